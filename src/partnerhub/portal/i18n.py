"""Portal translations: Babel ``.po`` catalogs under ``portal/locale/<lang>/LC_MESSAGES``.

Catalogs are read with Babel at start-up (no compile step to forget); English is the source
language, so a missing catalog or message falls back to the English text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from babel.support import NullTranslations

from partnerhub.catalog.languages import PORTAL_LOCALES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
_misses: ContextVar[list[str] | None] = ContextVar("portal_i18n_misses", default=None)


@contextmanager
def recording_misses() -> Iterator[list[str]]:
    """The messages looked up without a translation while the block runs (in this context
    and the tasks it starts): what a page showed in English instead of its language."""
    found: list[str] = []
    token = _misses.set(found)
    try:
        yield found
    finally:
        _misses.reset(token)


class CatalogTranslations(NullTranslations):
    """A catalog's messages; plural messages (``ngettext``) keep their forms, chosen by
    ``n != 1`` — the plural rule of both portal languages (English and Italian)."""

    def __init__(
        self, messages: dict[str, str], plurals: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        super().__init__()
        self._messages = messages
        self._plurals = plurals or {}

    def gettext(self, message: str) -> str:
        found = self._messages.get(message)
        if found:
            return found
        _missed(message)
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self._plurals.get(singular)
        index = 0 if n == 1 else 1
        if forms and len(forms) > index and forms[index]:
            return forms[index]
        _missed(singular)
        return singular if n == 1 else plural


def _missed(message: str) -> None:
    found = _misses.get()
    if found is not None and message:
        found.append(message)


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
    plurals = {
        str(m.id[0]): tuple(str(s) for s in m.string)
        for m in catalog
        if isinstance(m.id, tuple | list)
        and isinstance(m.string, tuple | list)
        and not m.fuzzy
        and all(m.string)
    }
    return CatalogTranslations(messages, plurals)


def is_message(text: str) -> bool:
    """Whether *text* is one of the portal's message ids (it has a translation)."""
    for locale in PORTAL_LOCALES:
        trans = translations(locale)
        if isinstance(trans, CatalogTranslations) and text in trans._messages:
            return True
    return False


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
