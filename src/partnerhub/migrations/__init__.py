"""Alembic revisions of the PartnerHub schema."""
