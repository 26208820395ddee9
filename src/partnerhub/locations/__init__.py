"""Locations of customer organizations (issue 4, item 1): ``/v1/locations``."""
