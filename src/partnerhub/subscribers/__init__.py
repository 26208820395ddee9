"""Subscribers: users of customer organizations, their packages, numbers, roles, bulk import."""
