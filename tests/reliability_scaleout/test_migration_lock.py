"""Regression: processes starting together on a new database migrate it once.

Every process runs the migrations at start under the advisory lock 724011. The lock is a
session lock and used to be released *before* the migration's transaction committed, so a
process waiting for it could read the old revision and run the same migrations again ("relation
already exists": a worker of the scale-out run died at start). Now the migration commits first:
at the moment the lock is released, another connection already sees the new revision.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from partnerhub.db import migration_status, upgrade


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A new, empty database on the suite's server."""
    name = "partnerhub_migrate_" + secrets.token_hex(4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _revision(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return row[0] if row else None


def test_migration_is_committed_before_the_lock_is_released(empty_database: str) -> None:
    seen_at_unlock: list[str | None] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "pg_advisory_unlock(724011)" in statement:
            # what a process waiting for the lock would read the moment it gets it
            seen_at_unlock.append(_revision(empty_database))

    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        upgrade(empty_database)
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
    current, head = migration_status(empty_database)
    assert current == head
    assert seen_at_unlock == [head]
