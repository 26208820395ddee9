"""Locations of customer organizations ``/v1/locations``."""
