"""A mapped row as the bound parameters of a plain ``INSERT`` (a data-modifying CTE of a
statement that writes several rows in one round trip: ``customers.repository``'s new customer,
``billing.repository``'s new report, each with its audit row)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB


def columns(table: Table, prefix: str) -> tuple[str, str]:
    """The column names of ``table`` and their ``:<prefix><name>`` parameters."""
    names = ", ".join(c.name for c in table.columns)
    values = ", ".join(f":{prefix}{c.name}" for c in table.columns)
    return names, values


def row_values(prefix: str, obj: Any) -> dict[str, Any]:
    """Every column of the new mapped object ``obj``: what was set, else the column's Python
    default (as a flush would, and left on the object); JSON columns as ``jsonb``."""
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
        if isinstance(column.type, JSONB) and value is not None:
            value = Jsonb(value)
        out[prefix + column.name] = value
    return out
