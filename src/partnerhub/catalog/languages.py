"""Languages: the e-mail languages offered by templates, and language-code normalization.

Language codes are ISO 639-1 (``pycountry.languages`` entries with an ``alpha_2``),
optionally followed by an ISO 3166-1 alpha-2 country: ``en`` or ``en_US``. Display names
come from Babel's CLDR data.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import pycountry
from babel import Locale, UnknownLocaleError

__all__ = [
    "DEFAULT_EMAIL_LANGUAGE",
    "PORTAL_LOCALES",
    "SUPPORTED_EMAIL_LANGUAGES",
    "language_label",
    "normalize_language",
]

PORTAL_LOCALES: Final = ("en", "it")
"""Locales the web portal is translated into."""

SUPPORTED_EMAIL_LANGUAGES: Final = (
    "en_US",
    "en_GB",
    "it_IT",
    "de_DE",
    "fr_FR",
    "fr_CA",
    "es_ES",
    "es_MX",
    "pt_BR",
    "nl_NL",
    "ja_JP",
    "zh_CN",
    "zh_TW",
    "ko_KR",
    "sv_SE",
    "da_DK",
    "nb_NO",
    "fi_FI",
    "pl_PL",
    "ru_RU",
    "tr_TR",
)
"""Languages a template may choose as ``defaultEmailLanguage`` (canonical ``ll_CC`` form)."""

DEFAULT_EMAIL_LANGUAGE: Final = "en_US"

_LANGUAGE = re.compile(r"([A-Za-z]{2})(?:[-_]([A-Za-z]{2}))?")


def normalize_language(value: object) -> str | None:
    """The canonical form (``en``, ``en_US``) of a language code, or ``None`` if invalid.

    Accepts ``en``, ``en_US``, ``en-US`` in any case, with blanks around. The language must
    be an ISO 639-1 code and the country an ISO 3166-1 alpha-2 code.
    """
    if not isinstance(value, str):
        return None
    match = _LANGUAGE.fullmatch(value.strip())
    if match is None:
        return None
    language, territory = match.group(1).lower(), match.group(2)
    if pycountry.languages.get(alpha_2=language) is None:
        return None
    if territory is None:
        return language
    territory = territory.upper()
    if pycountry.countries.get(alpha_2=territory) is None:
        return None
    return f"{language}_{territory}"


@lru_cache(maxsize=32)  # keyed by caller-supplied locales: bounded
def _display_locale(locale: str) -> Locale | None:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def _pycountry_label(language: str, territory: str | None) -> str:
    lang = pycountry.languages.get(alpha_2=language)
    name = str(lang.name) if lang is not None else language
    if territory is None:
        return name
    country = pycountry.countries.get(alpha_2=territory)
    country_name = (
        str(getattr(country, "common_name", None) or country.name)
        if country is not None
        else territory
    )
    return f"{name} ({country_name})"


def language_label(code: str, locale: str = "en") -> str:
    """A display name for a language code in *locale*: ``"English (United States)"``,
    ``"Inglese (Stati Uniti)"`` for ``it``. The first letter is upper-cased (CLDR writes
    Italian language names in lower case). Invalid codes are returned unchanged.
    """
    canonical = normalize_language(code)
    if canonical is None:
        return code
    language, _, territory = canonical.partition("_")
    display = _display_locale(locale) or _display_locale("en")
    label: str | None = None
    if display is not None:
        lang_name = display.languages.get(language)
        terr_name = display.territories.get(territory) if territory else None
        if lang_name and (terr_name or not territory):
            label = f"{lang_name} ({terr_name})" if terr_name else lang_name
    if label is None:
        label = _pycountry_label(language, territory or None)
    return label[:1].upper() + label[1:]
