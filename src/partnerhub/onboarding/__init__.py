"""Onboarding templates (S3-S12): the settings every customer organization starts from."""
