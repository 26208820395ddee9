"""Portal translations: Babel ``.po`` catalogs under ``portal/locale/<lang>/LC_MESSAGES``.

Catalogs are read with Babel at start-up (no compile step to forget); English is the source
language, so a missing catalog or message falls back to the English text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from babel.support import NullTranslations

from partnerhub.catalog.languages import PORTAL_LOCALES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


class CatalogTranslations(NullTranslations):
    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__()
        self._messages = messages

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


@lru_cache(maxsize=8)
def translations(locale: str) -> NullTranslations:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale not in PORTAL_LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    messages = {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }
    return CatalogTranslations(messages)


def negotiate(accept_language: str | None) -> str:
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in PORTAL_LOCALES:
            return code
    return "en"


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it here (it is translated when shown)."""
    return message


@lru_cache(maxsize=64)
def territory_label(code: str, locale: str) -> str:
    """A region or territory name in *locale* from CLDR (``EU``, ``US``; ``UK`` is ``GB``)."""
    from babel import Locale, UnknownLocaleError

    territory = "GB" if code == "UK" else code
    try:
        names = Locale.parse(locale).territories
    except (UnknownLocaleError, ValueError):
        return code
    return str(names.get(territory) or code)
