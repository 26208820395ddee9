"""A mapped row as the bound parameters of a plain ``INSERT`` (a data-modifying CTE of a
statement that writes several rows in one round trip: ``customers.repository``'s new customer,
``billing.repository``'s new report, each with its audit row)."""

from __future__ import annotations

import json
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

from partnerhub.db import carrying_context


def columns(
    table: Table, prefix: str, *, driver: bool = False, context: str | None = None
) -> tuple[str, str]:
    """The column names of ``table`` and their parameters: ``:<prefix><name>`` for a
    SQLAlchemy ``text``, ``%(<prefix><name>)s`` for psycopg itself (``driver``). ``context``
    (psycopg only): the column whose value also tells the event triggers who acts and for
    which request, from the ``actor`` and ``tracking_id`` parameters (the statement may run in
    autocommit, where no ``BEGIN`` carries them: ``db.transaction_context()``)."""
    names = ", ".join(c.name for c in table.columns)
    values = []
    for c in table.columns:
        value = f"%({prefix}{c.name})s" if driver else f":{prefix}{c.name}"
        if c.name == context:
            assert driver
            value = carrying_context(value, "%(actor)s", "%(tracking_id)s")
        values.append(value)
    return names, ", ".join(values)


def dumps(value: Any) -> str:
    """JSON of a row (:func:`row_values` ``as_json``): ids and instants as PostgreSQL reads
    them back (``jsonb_populate_record``)."""
    return json.dumps(value, default=str)


def row_values(prefix: str, obj: Any, *, as_json: bool = False) -> dict[str, Any]:
    """Every column of the new mapped object ``obj``: what was set, else the column's Python
    default (as a flush would, and left on the object); JSON columns as ``jsonb`` (``as_json``:
    as they are, the whole row to be sent as one JSON value, :func:`dumps`)."""
    table = obj.__table__
    given = obj.__dict__
    out: dict[str, Any] = {}
    for column in table.columns:
        key = column.key
        if key in given:
            value = given[key]
        else:
            default = column.default
            value = None
            if default is not None and getattr(default, "is_callable", False):
                value = default.arg(None)
            elif default is not None and getattr(default, "is_scalar", False):
                value = default.arg
            setattr(obj, key, value)
        if isinstance(column.type, JSONB) and value is not None and not as_json:
            value = Jsonb(value)
        out[prefix + column.name] = value
    return out
