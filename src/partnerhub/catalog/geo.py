"""Countries, subdivisions and the address rules per country.

Countries and subdivisions come from ``pycountry`` (ISO 3166-1 and ISO 3166-2); localized
country names from Babel's CLDR data. The only hand-kept table is :data:`ADDRESS_RULES`:
which countries require a state/province and/or a postal code, and the postal code's shape.
It follows the required fields and patterns of Google's libaddressinput metadata (as
redistributed by CLDR-based address libraries) for the countries listed; its keys are
checked against ``pycountry`` in the tests.

Address policy (:func:`validate_address`):

* ``country`` must be an ISO 3166-1 alpha-2 code (any case).
* State/province: required where :data:`ADDRESS_RULES` says so. When given for a country
  that has ISO 3166-2 subdivisions it must name one of them, at any level (``US-CA`` or
  ``CA``; Italy's provinces ``MI`` as well as its regions ``25``), or be a subdivision's
  exact name, compared without case and accents (``California``, ``Tokyo``). Countries
  without subdivisions take any text.
* Postal code: required where :data:`ADDRESS_RULES` says so; when given and a pattern is
  known it must match it (case-insensitive, surrounding blanks ignored).
* Default for the countries not listed: neither is required and any postal code is taken.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Final

import pycountry
from babel import Locale, UnknownLocaleError
from pycountry.db import Country

__all__ = [
    "ADDRESS_RULES",
    "AddressRule",
    "address_rule",
    "country",
    "country_choices",
    "country_name",
    "normalize_subdivision",
    "subdivision_choices",
    "subdivision_codes",
    "validate_address",
]


@dataclass(frozen=True, slots=True)
class AddressRule:
    """What a country's address needs beyond ``addressLine1``, ``city`` and ``country``.

    ``postal_pattern`` is a regular expression the whole postal code must match
    (upper-cased, blanks around it stripped); ``None`` when any value is accepted.
    """

    state_required: bool = False
    postal_required: bool = False
    postal_pattern: str | None = None


ADDRESS_RULES: Final[MappingProxyType[str, AddressRule]] = MappingProxyType(
    {
        # state/province/prefecture and postal code required
        "US": AddressRule(True, True, r"\d{5}(?:[ -]\d{4})?"),
        "CA": AddressRule(
            True, True, r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d"
        ),
        "AU": AddressRule(True, True, r"\d{4}"),
        "BR": AddressRule(True, True, r"\d{5}-?\d{3}"),
        "MX": AddressRule(True, True, r"\d{5}"),
        "IN": AddressRule(True, True, r"\d{3} ?\d{3}"),
        "JP": AddressRule(True, True, r"\d{3}-?\d{4}"),
        "CN": AddressRule(True, True, r"\d{6}"),
        "IT": AddressRule(True, True, r"\d{5}"),
        "ES": AddressRule(True, True, r"\d{5}"),
        # postal code required
        "DE": AddressRule(False, True, r"\d{5}"),
        "FR": AddressRule(False, True, r"\d{2} ?\d{3}"),
        "GB": AddressRule(False, True, r"GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}"),
        "NL": AddressRule(False, True, r"\d{4} ?[A-Z]{2}"),
        "AT": AddressRule(False, True, r"\d{4}"),
        "BE": AddressRule(False, True, r"\d{4}"),
        "CH": AddressRule(False, True, r"\d{4}"),
        "CZ": AddressRule(False, True, r"\d{3} ?\d{2}"),
        "DK": AddressRule(False, True, r"\d{4}"),
        "FI": AddressRule(False, True, r"\d{5}"),
        "GR": AddressRule(False, True, r"\d{3} ?\d{2}"),
        "HU": AddressRule(False, True, r"\d{4}"),
        "LU": AddressRule(False, True, r"\d{4}"),
        "NO": AddressRule(False, True, r"\d{4}"),
        "NZ": AddressRule(False, True, r"\d{4}"),
        "PL": AddressRule(False, True, r"\d{2}-\d{3}"),
        "PT": AddressRule(False, True, r"\d{4}-\d{3}"),
        "SE": AddressRule(False, True, r"\d{3} ?\d{2}"),
        "SG": AddressRule(False, True, r"\d{6}"),
        "ZA": AddressRule(False, True, r"\d{4}"),
        # postal code optional, checked when given (Eircode)
        "IE": AddressRule(False, False, r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[\dAC-FHKNPRTV-Y]{4}"),
    }
)
"""Alpha-2 → :class:`AddressRule` for the countries that need more than the default."""

_DEFAULT_RULE: Final = AddressRule()

_ALPHA2 = re.compile(r"[A-Za-z]{2}")


def _alpha2(value: object) -> str | None:
    """The upper-cased alpha-2 code of an existing country, else ``None``."""
    if not isinstance(value, str):
        return None
    code = value.strip()
    if not _ALPHA2.fullmatch(code):
        return None
    code = code.upper()
    return code if pycountry.countries.get(alpha_2=code) is not None else None


def country(alpha2: str) -> Country | None:
    """The ``pycountry`` country for an ISO 3166-1 alpha-2 code (any case), else ``None``.

    Only alpha-2 codes are accepted: ``"ITA"`` or ``"Italy"`` give ``None``.
    """
    code = _alpha2(alpha2)
    return pycountry.countries.get(alpha_2=code) if code is not None else None


def _fold(text: str) -> str:
    """Case- and accent-insensitive comparison key."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _english_name(c: Country) -> str:
    name = getattr(c, "common_name", None) or c.name
    return str(name)


@lru_cache(maxsize=32)  # keyed by caller-supplied locales: bounded
def _babel_territories(locale: str) -> MappingProxyType[str, str] | None:
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return MappingProxyType(dict(parsed.territories))


def _is_english(locale: str) -> bool:
    return locale.replace("-", "_").split("_", 1)[0].lower() == "en"


def country_name(alpha2: str, locale: str = "en") -> str | None:
    """A country's display name: English from ``pycountry`` (its common name when it has
    one, e.g. "Taiwan", "South Korea"), other locales from Babel; ``None`` for unknown codes.
    """
    c = country(alpha2)
    if c is None:
        return None
    if not _is_english(locale):
        names = _babel_territories(locale)
        if names is not None and c.alpha_2 in names:
            return names[c.alpha_2]
    return _english_name(c)


@lru_cache(maxsize=32)  # keyed by caller-supplied locales: bounded
def _country_choices(locale: str) -> tuple[tuple[str, str], ...]:
    names = None if _is_english(locale) else _babel_territories(locale)
    choices = []
    for c in pycountry.countries:
        name = names.get(c.alpha_2) if names is not None else None
        choices.append((c.alpha_2, name or _english_name(c)))
    return tuple(sorted(choices, key=lambda item: (_fold(item[1]), item[0])))


def country_choices(locale: str = "en") -> list[tuple[str, str]]:
    """``(alpha2, name)`` for every ISO 3166-1 country, sorted by name for *locale*.

    English names come from ``pycountry``; other locales (``it``) use Babel's CLDR names,
    falling back to English for a locale or a name Babel does not know.
    """
    return list(_country_choices(locale))


@cache
def _subdivisions(alpha2: str) -> tuple[tuple[str, str, str | None], ...]:
    """``(code, name, parent_code)`` of every ISO 3166-2 subdivision of a country."""
    found = pycountry.subdivisions.get(country_code=alpha2) or ()
    return tuple(sorted((str(s.code), str(s.name), getattr(s, "parent_code", None)) for s in found))


@cache
def _subdivision_code_set(alpha2: str) -> frozenset[str]:
    return frozenset(code for code, _, _ in _subdivisions(alpha2))


@cache
def _subdivisions_by_name(alpha2: str) -> MappingProxyType[str, str]:
    """Folded name → code, for names that identify one subdivision.

    A name shared by several subdivisions (Spain's "La Rioja" is both a province and an
    autonomous community) maps to the top-level one when exactly one of them is top-level;
    otherwise the name is left out.
    """
    grouped: dict[str, list[tuple[str, str | None]]] = {}
    for code, name, parent in _subdivisions(alpha2):
        grouped.setdefault(_fold(name), []).append((code, parent))
    table: dict[str, str] = {}
    for key, candidates in grouped.items():
        if len(candidates) == 1:
            table[key] = candidates[0][0]
            continue
        top = [code for code, parent in candidates if parent is None]
        if len(top) == 1:
            table[key] = top[0]
    return MappingProxyType(table)


def subdivision_codes(alpha2: str) -> set[str]:
    """The full ISO 3166-2 codes (``US-CA``) of a country's subdivisions at every level.

    Empty for an unknown country or one without subdivisions.
    """
    code = _alpha2(alpha2)
    return set(_subdivision_code_set(code)) if code is not None else set()


def subdivision_choices(alpha2: str) -> list[tuple[str, str]]:
    """``(code, name)`` of a country's ISO 3166-2 subdivisions (``IT-MI``, "Milano"), sorted
    by name; empty for an unknown country or one without subdivisions."""
    code = _alpha2(alpha2)
    if code is None:
        return []
    return sorted(((c, n) for c, n, _ in _subdivisions(code)), key=lambda i: (_fold(i[1]), i[0]))


def normalize_subdivision(alpha2: str, value: str) -> str | None:
    """The full ISO 3166-2 code for a state/province given as ``US-CA``, ``CA`` or a name.

    Case-insensitive; names are compared without accents (``Tokyo``, ``Lombardia``).
    ``None`` when *value* names no subdivision of the country (or the country is unknown).
    """
    code = _alpha2(alpha2)
    if code is None or not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    codes = _subdivision_code_set(code)
    upper = text.upper()
    candidate = upper if upper.startswith(f"{code}-") else f"{code}-{upper}"
    if candidate in codes:
        return candidate
    return _subdivisions_by_name(code).get(_fold(text))


def address_rule(alpha2: str) -> AddressRule:
    """The :class:`AddressRule` of a country; the permissive default for the others."""
    code = alpha2.strip().upper() if isinstance(alpha2, str) else ""
    return ADDRESS_RULES.get(code, _DEFAULT_RULE)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def validate_address(
    country: str | None,
    state: str | None,
    postal: str | None,
    *,
    country_field: str = "country",
    state_field: str = "stateOrProvince",
    postal_field: str = "zipOrPostalCode",
) -> list[tuple[str, str]]:
    """Check the country-dependent parts of an address; ``[]`` when they are valid.

    Returns ``(field, message)`` pairs. Field names default to the wholesale API's
    (``country``, ``stateOrProvince``, ``zipOrPostalCode``); pass others for other shapes
    (the Locations API uses ``state`` and ``postalCode``).
    """
    if _blank(country):
        return [(country_field, f"{country_field} is required")]
    code = _alpha2(country)
    if code is None:
        return [(country_field, f"{country!r} is not an ISO 3166-1 alpha-2 country code")]
    rule = address_rule(code)
    problems: list[tuple[str, str]] = []

    if _blank(state):
        if rule.state_required:
            problems.append((state_field, f"{state_field} is required for country {code}"))
    elif _subdivision_code_set(code) and normalize_subdivision(code, state or "") is None:
        problems.append(
            (state_field, f"{state_field} {state!r} is not a subdivision of country {code}")
        )

    if _blank(postal):
        if rule.postal_required:
            problems.append((postal_field, f"{postal_field} is required for country {code}"))
    elif rule.postal_pattern is not None and not _compiled(rule.postal_pattern).fullmatch(
        (postal or "").strip().upper()
    ):
        problems.append(
            (postal_field, f"{postal_field} {postal!r} is not a valid postal code for {code}")
        )
    return problems
