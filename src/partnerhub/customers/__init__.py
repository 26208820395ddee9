"""Wholesale customers (S2, S13-S21): the customers API, provisioning jobs and portal pages."""
