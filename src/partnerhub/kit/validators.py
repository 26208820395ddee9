"""Small value validators shared by the services (each service words its own error)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

import email_validator
import idna
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)
from email_validator.syntax import validate_email_domain_name

from partnerhub.errors import InvalidValue, MissingField

_SPECIAL_SEEN: list[str] = list(email_validator.SPECIAL_USE_DOMAIN_NAMES)


@lru_cache(maxsize=4096)
def _domain(
    domain: str, test_environment: bool, globally_deliverable: bool
) -> tuple[str, int, int] | None:
    """``(domain, its UTF-8 length, length of its ASCII form)`` as email-validator
    normalizes ``domain``; None if invalid."""
    try:
        info = validate_email_domain_name(
            domain, test_environment=test_environment, globally_deliverable=globally_deliverable
        )
    except EmailNotValidError:
        return None
    return info["domain"], len(info["domain"].encode()), len(info["ascii_domain"])


def _plain(text: str) -> str | bool | None:
    """email-validator's answer for the common shape (an ASCII dot-atom local part, one
    ``@``, a domain name), with each domain checked once; ``False`` when ``text`` has another
    shape (then the full validator decides).

    For such text the library's steps reduce to these: ``split_email`` splits at the only
    ``@`` (no quotes, no angle brackets, ASCII never combines), the local part passes as a
    dot-atom unchanged (NFC is the identity on ASCII), RFC 2142 mailbox names are
    lower-cased, the domain goes through ``validate_email_domain_name`` (a pure function of
    the domain, the two module switches and the special-use list: cached here, the cache
    dropped if that list changes) and ``validate_email_length`` refuses any of the three
    forms longer than 254 UTF-8 bytes."""
    if not text.isascii() or text.count("@") != 1 or '"' in text or "<" in text:
        return False
    local, _, domain = text.partition("@")
    if not local or not domain or domain.startswith("[") or not DOT_ATOM_TEXT.match(local):
        return False
    if email_validator.SPECIAL_USE_DOMAIN_NAMES != _SPECIAL_SEEN:
        _domain.cache_clear()
        _SPECIAL_SEEN[:] = email_validator.SPECIAL_USE_DOMAIN_NAMES
    found = _domain(
        domain, bool(email_validator.TEST_ENVIRONMENT), bool(email_validator.GLOBALLY_DELIVERABLE)
    )
    if found is None:
        return None
    normalized, utf8_length, ascii_length = found
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    if max(len(text), len(local) + 1 + utf8_length, len(local) + 1 + ascii_length) > (
        EMAIL_MAX_LENGTH
    ):
        return None
    return local + "@" + normalized


@lru_cache(maxsize=256)  # bounded; bulk imports check the same address more than once
def normalize_email(text: str) -> str | None:
    """The normalized form of a syntactically valid address (no DNS look-up), else None.

    The same answer as ``email_validator.validate_email(text, check_deliverability=False)``
    (tests/subscribers/imports/test_email_fast_path.py compares them); common addresses take a fast
    path that validates each domain once (bulk imports check 100,000 addresses)."""
    quick = _plain(text)
    if quick is not False:
        return quick if isinstance(quick, str) else None
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


def normalize_domain(text: str) -> str | None:
    """A domain name's lower-case ASCII (IDNA) form, as e-mail addresses are validated
    (``email-validator``, no DNS look-up); None if it is not one. Exact names only: no
    wildcard, no address, no trailing dot. The form identity providers claim a domain in
    (``sso_domains``) and ``/signin`` routes an address by."""
    value = (text or "").strip().lower()
    if not value or len(value) > 253:
        return None
    return _ascii_domain(
        value, bool(email_validator.TEST_ENVIRONMENT), bool(email_validator.GLOBALLY_DELIVERABLE)
    )


@lru_cache(maxsize=4096)  # bulk imports ask for the same few domains 100,000 times
def _ascii_domain(value: str, test_environment: bool, globally_deliverable: bool) -> str | None:
    try:
        info = validate_email_domain_name(
            value, test_environment=test_environment, globally_deliverable=globally_deliverable
        )
    except EmailNotValidError:
        return None
    return str(info["ascii_domain"]).lower()


def address_domain(domain: str) -> str:
    """How a normalized domain (:func:`normalize_domain`, the ASCII form claims are stored in)
    is written in the addresses the hub stores (:func:`normalize_email`, email-validator's
    form): its Unicode form when it has an IDNA label (``xn--bcher-kva.example`` →
    ``bücher.example``), else itself. Stored beside a claim (``sso_domains.address_domain``)
    so that the database compares an address's domain with a claim in one spelling."""
    if "xn--" not in domain:
        return domain
    try:
        return str(idna.decode(domain.encode("ascii"))).lower()
    except (idna.IDNAError, UnicodeError):
        return domain


def email_domain(email: str) -> str | None:
    """The normalized domain (:func:`normalize_domain`) of an address, after its last ``@``;
    None if it has none."""
    _local, at, domain = (email or "").strip().rpartition("@")
    return normalize_domain(domain) if at else None


def check_email(raw: str | None, name: str = "email") -> str:
    """An e-mail address the hub accepts for a person, normalized and lower-cased: required,
    at most 320 characters, valid (email-validator's rules); the errors name the field ``name``.
    One rule for every address the hub stores (subscribers, administrators, contacts)."""
    text = (raw or "").strip()
    if not text:
        raise MissingField("is required", field=name)
    if len(text) > 320:
        raise InvalidValue(
            "at most 320 characters", field=name, reason="too_long", params={"max": 320}
        )
    normalized = normalize_email(text)
    if normalized is None:
        raise InvalidValue(
            f"'{text}' is not a valid email address",
            field=name,
            reason="email",
            params={"value": text},
        )
    return normalized.lower()


def parse_instant(name: str, raw: str | None) -> datetime | None:
    """ISO 8601 or epoch milliseconds (CONTRACT section 1)."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"-?[0-9]{1,15}", text):
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except (ValueError, OverflowError, OSError):
        raise InvalidValue(
            f"{name}: '{text}' is not an ISO 8601 date-time or epoch milliseconds", field=name
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
