"""Small value validators shared by the services (each service words its own error)."""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


@lru_cache(maxsize=256)  # bounded; bulk imports check the same address more than once
def normalize_email(text: str) -> str | None:
    """The normalized form of a syntactically valid address (no DNS look-up), else None."""
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None
