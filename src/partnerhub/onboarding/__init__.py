"""Onboarding templates: the settings every customer organization starts from."""
