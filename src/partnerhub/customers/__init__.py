"""Wholesale customers : the customers API, provisioning jobs and portal pages."""
