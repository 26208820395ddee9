"""IANA time zones, from :mod:`zoneinfo` and the ``tzdata`` package.

* :func:`is_timezone` checks a name against ``zoneinfo.available_timezones()`` (computed
  once per process). Names are case-sensitive, as in the IANA database: ``Europe/Rome``.
* :func:`timezones_for_country` reads the country → zone table ``zone.tab`` that ships
  with the time zone database: first the copy inside the ``tzdata`` wheel
  (``tzdata.zoneinfo/zone.tab``), else the system copy on ``zoneinfo.TZPATH``. The zones of a
  country keep the file's order, whose rule is "most populous zone first", so the first
  zone is the country's principal one (``US`` → ``America/New_York``). ``zone.tab`` (not
  ``zone1970.tab``) is used because it lists every inhabited country separately, with
  the country's own zone name (``VA`` → ``Europe/Vatican``). Countries it does not list
  (only the uninhabited ``BV`` and ``HM``), or a system without the file, fall back to
  ``phonenumbers``' time zones for the country's example number; that gives ``[]`` for
  countries without a numbering plan.
"""

from __future__ import annotations

import importlib.resources
import zoneinfo
from functools import cache
from pathlib import Path

import phonenumbers
from phonenumbers import timezone as phone_timezone

__all__ = ["all_timezones", "is_timezone", "principal_timezone", "timezones_for_country"]


@cache
def all_timezones() -> frozenset[str]:
    """Every IANA zone name this process can load."""
    return frozenset(zoneinfo.available_timezones())


def is_timezone(name: object) -> bool:
    """``True`` when *name* is an IANA zone name (``Europe/Rome``, ``UTC``)."""
    return isinstance(name, str) and name in all_timezones()


def _read_zone_tab() -> str | None:
    try:
        return (
            importlib.resources.files("tzdata.zoneinfo")
            .joinpath("zone.tab")
            .read_text(encoding="utf-8")
        )
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    for root in zoneinfo.TZPATH:
        path = Path(root) / "zone.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


@cache
def _zone_tab() -> dict[str, tuple[str, ...]]:
    """``zone.tab`` as alpha-2 → zones (file order), keeping only loadable zones."""
    text = _read_zone_tab()
    table: dict[str, list[str]] = {}
    if text is None:
        return {}
    available = all_timezones()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        code, zone = fields[0].strip().upper(), fields[2].strip()
        if zone in available:
            table.setdefault(code, []).append(zone)
    return {code: tuple(zones) for code, zones in table.items()}


@cache
def _zones_from_phonenumbers(alpha2: str) -> tuple[str, ...]:
    number = phonenumbers.example_number(alpha2)
    if number is None:
        return ()
    available = all_timezones()
    return tuple(z for z in phone_timezone.time_zones_for_number(number) if z in available)


def timezones_for_country(alpha2: str) -> list[str]:
    """The IANA zones used in a country (ISO 3166-1 alpha-2, any case), principal first.

    Unknown codes give ``[]``.
    """
    code = alpha2.strip().upper() if isinstance(alpha2, str) else ""
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        return []
    zones = _zone_tab().get(code)
    if zones is None:
        zones = _zones_from_phonenumbers(code)
    return list(zones)


def principal_timezone(alpha2: str) -> str | None:
    """The country's principal (most populous) zone, or ``None`` when it has none."""
    zones = timezones_for_country(alpha2)
    return zones[0] if zones else None
