"""Data-residency regions and the country → region policy.

Every customer gets a ``dataRegion`` when it is created, derived from the country of its
address (a template's ``dataRegion`` may override it). The regions:

=====  ======================  ==============================================================
code   label                   countries
=====  ======================  ==============================================================
US     United States           the Americas (except Canada), US Pacific territories
EU     European Union          Europe, Africa, Central Asia, the Caucasus, Turkey, Israel,
                               Cyprus, Antarctica, and anything else not listed below
UK     United Kingdom          GB and the Crown Dependencies (GG, JE, IM)
CA     Canada                  CA
JP     Japan                   JP
AU     Australia               Australia, New Zealand and Oceania
SG     Singapore               East (except JP), South-East and South Asia
SA     Saudi Arabia            SA, JO, IQ, YE, LB, SY, PS, IR
AE     United Arab Emirates    AE and the Gulf states OM, QA, BH, KW
=====  ======================  ==============================================================

How a country is assigned (:func:`region_for_country`), first match wins:

1. :data:`REGION_OVERRIDES`, a small explicit table keyed by ISO 3166-1 alpha-2 (checked
   against ``pycountry`` in the tests): the single-country regions, the Asia-Pacific and
   Middle East lists, and the territories the next rule would place wrongly: US Pacific
   territories (AS, GU, MP, UM) → US; Atlantic territories of the Americas (BM, FK, GS)
   → US; Australian external territories in the Indian Ocean (CX, CC, HM) → AU;
   Greenland (Kingdom of Denmark) and the EU's outermost regions in the Americas (GF,
   GP, MQ, MF, where EU law applies) → EU.
2. The bulk, by continent. ``pycountry`` has no continents, so the continent comes from
   the IANA area of the country's principal time zone in tzdata's ``zone.tab`` (see
   :mod:`partnerhub.catalog.timezones`): ``America/…`` → US; ``Australia/…`` and
   ``Pacific/…`` → AU.
3. Everything else → EU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Final

import pycountry

from partnerhub.catalog.timezones import principal_timezone

__all__ = [
    "DEFAULT_REGION",
    "REGIONS",
    "REGION_OVERRIDES",
    "Region",
    "countries_in_region",
    "is_region",
    "region_for_country",
]


@dataclass(frozen=True, slots=True)
class Region:
    """A data-residency region."""

    code: str
    label: str


REGIONS: Final[MappingProxyType[str, Region]] = MappingProxyType(
    {
        r.code: r
        for r in (
            Region("US", "United States"),
            Region("EU", "European Union"),
            Region("UK", "United Kingdom"),
            Region("CA", "Canada"),
            Region("JP", "Japan"),
            Region("AU", "Australia"),
            Region("SG", "Singapore"),
            Region("SA", "Saudi Arabia"),
            Region("AE", "United Arab Emirates"),
        )
    }
)

DEFAULT_REGION: Final = "EU"
"""Region of the countries no rule names (Europe, Africa, Central Asia, ...)."""

# Region → the countries placed there explicitly. Each alpha-2 appears at most once (tested).
_OVERRIDES_BY_REGION: Final[dict[str, frozenset[str]]] = {
    "UK": frozenset({"GB", "GG", "JE", "IM"}),
    "CA": frozenset({"CA"}),
    "JP": frozenset({"JP"}),
    # Australian external territories outside the Australia/ and Pacific/ tz areas.
    "AU": frozenset({"CX", "CC", "HM"}),
    "SG": frozenset(
        {
            # East Asia except Japan
            *("CN", "HK", "MO", "TW", "KR", "KP", "MN"),
            # South-East Asia
            *("SG", "MY", "ID", "TH", "VN", "PH", "KH", "LA", "MM", "BN", "TL"),
            # South Asia (Iran goes with the Middle East) and the British Indian Ocean Territory
            *("IN", "PK", "BD", "LK", "NP", "BT", "MV", "AF", "IO"),
        }
    ),
    "AE": frozenset({"AE", "OM", "QA", "BH", "KW"}),
    "SA": frozenset({"SA", "JO", "IQ", "YE", "LB", "SY", "PS", "IR"}),
    "US": frozenset(
        {
            # US territories in the Pacific
            *("AS", "GU", "MP", "UM"),
            # Americas whose principal zone is in the Atlantic/ area
            *("BM", "FK", "GS"),
        }
    ),
    # Greenland (Kingdom of Denmark) and the EU's outermost regions in the Americas.
    "EU": frozenset({"GL", "GF", "GP", "MQ", "MF"}),
}

REGION_OVERRIDES: Final[MappingProxyType[str, str]] = MappingProxyType(
    {code: region for region, codes in _OVERRIDES_BY_REGION.items() for code in sorted(codes)}
)
"""Explicit alpha-2 → region assignments, applied before the continent rule."""

_AREA_REGIONS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {"America": "US", "Australia": "AU", "Pacific": "AU"}
)
"""IANA time zone area of a country's principal zone → region."""


def is_region(code: object) -> bool:
    """``True`` for a known region code (exact, upper case: ``EU``)."""
    return isinstance(code, str) and code in REGIONS


@cache
def _region_for(code: str) -> str:
    override = REGION_OVERRIDES.get(code)
    if override is not None:
        return override
    zone = principal_timezone(code)
    if zone is not None:
        area = zone.split("/", 1)[0]
        if area in _AREA_REGIONS:
            return _AREA_REGIONS[area]
    return DEFAULT_REGION


def region_for_country(alpha2: str) -> str:
    """The data-residency region of an ISO 3166-1 alpha-2 country (any case).

    Raises :class:`ValueError` for a code that is not an ISO 3166-1 alpha-2 country.
    """
    code = alpha2.strip().upper() if isinstance(alpha2, str) else ""
    if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{alpha2!r} is not an ISO 3166-1 alpha-2 country code")
    return _region_for(code)


def countries_in_region(region: str) -> list[str]:
    """The alpha-2 codes of every country assigned to *region*, sorted."""
    return sorted(c.alpha_2 for c in pycountry.countries if _region_for(c.alpha_2) == region)
