"""Writing ORM objects with one plain driver statement (the fast lane, kit/fastlane.py).

:func:`insert` writes a new (transient) mapped object as the ORM's flush would: the attributes
that were set, the columns' Python defaults for those that were not, the server defaults
otherwise; JSON columns as ``jsonb``. The statement text is built once per table.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.schema import Column, Table


@functools.cache
def _plan(table: Table) -> tuple[str, tuple[tuple[str, str, Column[Any], bool], ...]]:
    columns = tuple(table.columns)
    names = ", ".join(c.name for c in columns)
    values = ", ".join(f"%({c.name})s" for c in columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({values})"  # noqa: S608 - from metadata
    return sql, tuple((c.key, c.name, c, isinstance(c.type, JSONB)) for c in columns)


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False):
        return arg(None)  # type: ignore[misc]  # SQLAlchemy wraps zero-argument callables
    if getattr(default, "is_scalar", False):
        return arg
    return None


async def insert(conn: psycopg.AsyncConnection[Any], obj: Any) -> None:
    """INSERT ``obj`` (a new mapped object) on the driver connection ``conn``."""
    state = inspect(obj)
    table = state.mapper.local_table
    assert isinstance(table, Table)
    sql, columns = _plan(table)
    given = state.dict
    params: dict[str, Any] = {}
    for key, name, column, is_json in columns:
        if key in given:
            value = given[key]
        else:
            value = _default(column)
            if value is None and column.server_default is not None:
                value = _SERVER_DEFAULT
            elif value is not None:
                setattr(obj, key, value)  # as a flush would leave it on the object
        if value is _SERVER_DEFAULT:
            sql = sql.replace(f"%({name})s", "DEFAULT", 1)
            continue
        params[name] = Jsonb(value) if is_json and value is not None else value
    await conn.execute(sql, params)


_SERVER_DEFAULT = object()
