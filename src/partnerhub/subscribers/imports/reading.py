"""Reading a bulk import's file: the header's columns, then one :class:`CsvRow` per data row,
as a stream (see the package's docstring for the columns)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from partnerhub.errors import InvalidValue, MissingField

COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "package",
    "location",
    "phone_number",
    "extension",
    "admin_role",
)
REQUIRED = ("email", "package")
MAX_ROWS = 200_000
_ALIASES = {
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "email": "email",
    "emailaddress": "email",
    "package": "package",
    "location": "location",
    "locationname": "location",
    "locationid": "location",
    "phonenumber": "phone_number",
    "primaryphonenumber": "phone_number",
    "phone": "phone_number",
    "number": "phone_number",
    "extension": "extension",
    "ext": "extension",
    "adminrole": "admin_role",
    "role": "admin_role",
}


@dataclass(frozen=True)
class Row:
    """A row given as values by column (the portal's "Add users" form, see
    :meth:`.facts.MemoryFacts.load`)."""

    number: int
    values: dict[str, str]


class CsvRow(NamedTuple):
    """One data row of a file, its cells stripped ("" when absent)."""

    number: int  # line number as a spreadsheet shows it (header = 1)
    first_name: str
    last_name: str
    email: str
    package: str
    location: str
    phone_number: str
    extension: str
    admin_role: str
    extra: bool  # more cells than columns


class CsvProblem(InvalidValue):
    """The file itself is unusable (header, size, encoding)."""


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().lower())


def iter_rows(text: str) -> Iterator[CsvRow]:
    """The data rows of ``text``, one at a time; raises :class:`CsvProblem` (or
    :class:`MissingField`) for an unusable header or file, before or while yielding."""
    text = text.lstrip("\ufeff")
    if not text or text.isspace():
        raise MissingField("csv: the file is empty", field="csv")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise CsvProblem(f"csv: cannot read the header ({exc})", field="csv") from None
    columns: list[str] = []
    for raw in header:
        name = _ALIASES.get(_key(raw))
        if name is None:
            raise CsvProblem(
                f"csv: unknown column '{raw.strip()}' (columns: {', '.join(COLUMNS)})", field="csv"
            )
        if name in columns:
            raise CsvProblem(f"csv: column '{name}' appears twice", field="csv")
        columns.append(name)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CsvProblem(f"csv: missing column(s) {', '.join(missing)}", field="csv")
    width = len(columns)
    # Cells are picked from the stripped line padded with "" (index -1: an absent column).
    pick = itemgetter(*(columns.index(c) if c in columns else -1 for c in COLUMNS))
    padding = [""] * (width + 1)
    make = CsvRow._make
    count = 0
    try:
        for line in reader:
            joined = "".join(line)
            if not joined or joined.isspace():
                continue
            if count >= MAX_ROWS:
                raise CsvProblem(f"csv: at most {MAX_ROWS} rows per file", field="csv")
            count += 1
            size = len(line)
            cells = list(map(str.strip, line))
            cells += padding[size:] if size < width else padding[-1:]
            yield make((reader.line_num, *pick(cells), size > width))
    except csv.Error as exc:
        raise CsvProblem(f"csv: line {reader.line_num}: {exc}", field="csv") from None
    if not count:
        raise MissingField("csv: the file has no subscriber rows", field="csv")


def parse_csv(text: str) -> list[CsvRow]:
    """The data rows; raises :class:`CsvProblem` for an unusable header or file."""
    return list(iter_rows(text))
