"""Phone numbers, parsed and validated with ``phonenumbers`` (Google's libphonenumber).

Numbers are stored and sent in E.164 (``+390212345678``). Only digits, blanks and the
usual punctuation ``( ) - . /`` are accepted around them; letters (vanity numbers) are not.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber

__all__ = ["is_valid_for_country", "number_country", "parse_e164", "parse_e164_many"]

_SHAPE = re.compile(r"\+?[0-9 ()./-]*[0-9][0-9 ()./-]*")
_MAX_LENGTH = 40


def _parse(value: object, region: str | None = None) -> PhoneNumber | None:
    """A valid number, or ``None``. Without *region* the value must start with ``+``."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > _MAX_LENGTH or not _SHAPE.fullmatch(text):
        return None
    if region is None and not text.startswith("+"):
        return None
    region_code = region.strip().upper() if region is not None else None
    try:
        number = phonenumbers.parse(text, region_code)
    except NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def parse_e164(value: object, region: str | None = None) -> str | None:
    """The E.164 form of a valid phone number, or ``None``.

    Without *region* the number must be international (start with ``+``); with an alpha-2
    *region* a national number is read as dialled in that country (``02 1234 5678`` with
    ``IT``).
    """
    number = _parse(value, region)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def number_country(e164: object) -> str | None:
    """The ISO 3166-1 alpha-2 country of a valid international number.

    ``None`` for invalid numbers and for non-geographic ones (``+800``, ``+882``).
    """
    number = _parse(e164)
    if number is None:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region is None or len(region) != 2 or not region.isalpha():
        return None
    return str(region)


def is_valid_for_country(e164: object, alpha2: str) -> bool:
    """``True`` when the international number is valid and belongs to the country.

    Countries sharing a calling code are told apart (``+1 416 ...`` is ``CA``, not ``US``).
    """
    number = _parse(e164)
    if number is None or not isinstance(alpha2, str):
        return False
    return bool(phonenumbers.is_valid_number_for_region(number, alpha2.strip().upper()))


def parse_e164_many(values: list[str]) -> list[str | None]:
    """:func:`parse_e164` of each value (international numbers), in order; a module-level
    function so that a process pool can run it (the bulk import spreads 100,000 numbers)."""
    return [parse_e164(value) for value in values]
