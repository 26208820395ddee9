"""Processes starting together on a new database migrate it once, and the lock that serializes
them is transaction-level.

Every process runs the migrations at start under the advisory lock 724011. It was first a
session lock released *before* the migration committed (a waiting process read the old
revision and ran the migrations again: "relation already exists", found by the scale-out run),
then a session lock released after the commit by a separate ``pg_advisory_unlock`` — which,
behind PgBouncer in transaction pooling mode, may run on another server connection than the
lock: the lock then stays held on a server connection that the pooler hands to other clients,
and the next migration waits for ever. Now it is ``pg_advisory_xact_lock``, taken inside the
migration's transaction and released by its COMMIT: nothing to unlock, nothing left behind.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from partnerhub.db import MIGRATION_LOCK, migration_status, upgrade

HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _held(url: str) -> int:
    """Holders of the migration lock in ``url``'s database, seen from another connection."""
    with psycopg.connect(url) as conn:
        row = conn.execute(HELD, (MIGRATION_LOCK,)).fetchone()
    return int(row[0]) if row else 0


def test_migration_lock_is_released_by_the_migrations_commit(empty_database: str) -> None:
    statements: list[str] = []
    held_while_migrating: list[int] = []
    held_when_handed_back: list[int] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)
        if statement.lstrip().upper().startswith("CREATE TABLE") and not held_while_migrating:
            held_while_migrating.append(_held(empty_database))

    def on_checkin(dbapi_conn: Any, record: Any) -> None:
        # The connection goes back to the pool (behind PgBouncer: the server connection goes
        # to another client): the locks it still holds, on its own backend.
        if dbapi_conn is None or dbapi_conn.closed:
            return
        with dbapi_conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
            held_when_handed_back.append(cur.fetchone()[0])
        dbapi_conn.rollback()

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Pool, "checkin", on_checkin)
    try:
        upgrade(empty_database)
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Pool, "checkin", on_checkin)
    current, head = migration_status(empty_database)
    assert current == head
    # The statements that take an advisory lock while migrating (a function that takes one
    # when it later runs, as migration 0011's triggers do, is only defined here).
    locking = [s for s in statements if s.lstrip().lower().startswith("select pg_advisory")]
    assert locking == [f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"]
    assert held_while_migrating == [1]  # the lock does serialize the migration
    assert held_when_handed_back and set(held_when_handed_back) == {0}
    assert _held(empty_database) == 0


def test_processes_starting_together_migrate_once(empty_database: str) -> None:
    # Processes, as at a real start (alembic's context is one per process).
    script = "import sys; from partnerhub.db import upgrade; upgrade(sys.argv[1])"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_database],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    current, head = migration_status(empty_database)
    assert current == head
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
