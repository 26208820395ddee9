"""What ``/openapi.json`` states about a body's values, so that a body the document calls
valid is one the service accepts (tests/app/test_own_openapi.py applies schemathesis'
``positive_data_acceptance`` to every body operation).

These annotations only *document*: they add JSON Schema keywords to a field's schema and
change nothing in how the model parses. The rules stay the services' (with their own error
codes and messages); each type here states one of them, from the same source the rule reads
(``catalog/``, pycountry, zoneinfo), built once:

* :data:`Text` — text with at least one non-blank character (the input models strip blanks,
  and the rules read blank text as absent: "is required");
* :data:`Email` — an e-mail address as ``kit.validators.normalize_email`` accepts it
  (``format: email``, at most 320 characters);
* :data:`CountryCode`, :data:`TimeZone`, :data:`Language` — an ISO 3166-1 alpha-2 code, an
  IANA zone name, an ISO 639-1 language optionally with a country (``en``, ``en_US``), in
  their canonical spelling (the service also takes other cases and ``en-US``: the document
  states the canonical form, a subset of what is accepted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pycountry
from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from partnerhub.catalog import timezones
from partnerhub.kit.schemas import one_of


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: values may be dicts
class Documented:
    """``Annotated[str, Documented({"pattern": ...})]``: adds keywords to the field's JSON
    Schema (after pydantic's own: ``maxLength`` from ``Field`` is kept)."""

    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(dict(self.keywords))
        return schema


def documented(**keywords: Any) -> Documented:
    return Documented(tuple(keywords.items()))


NON_BLANK = r"\S"
NO_CONTROL = "^[^\\u0000-\\u001f\\u007f]*$"  # no NUL, newline...: untypable text
EMAIL_MAX = 320

Text = Annotated[str, documented(pattern=NON_BLANK)]
Email = Annotated[str, documented(format="email", maxLength=EMAIL_MAX)]

COUNTRY_CODES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.countries))
LANGUAGE_CODES: tuple[str, ...] = tuple(
    sorted(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))
)
# ``en`` or ``en_US``, canonical spelling (catalog.languages.normalize_language's output).
LANGUAGE_PATTERN = f"^(?:{'|'.join(LANGUAGE_CODES)})(?:_(?:{'|'.join(COUNTRY_CODES)}))?$"

CountryCode = Annotated[str, one_of(COUNTRY_CODES)]
TimeZone = Annotated[str, one_of(sorted(timezones.all_timezones()))]
Language = Annotated[str, documented(type="string", pattern=LANGUAGE_PATTERN)]
