"""Behind PgBouncer in transaction pooling mode (docs/scaling.md, "High availability"): the
settings that make every connection of the app safe there reach the connections.

``PARTNERHUB_DATABASE_PREPARED_STATEMENTS=false`` turns psycopg's server-side prepared
statements off on every pool the app opens (the ORM engine, the autocommit pool of the hot
paths, procrastinate's pool, migrations): a statement run many times on one connection leaves
nothing in ``pg_prepared_statements``. ``PARTNERHUB_WORKER_LISTEN=false`` makes workers find
jobs by polling, with no LISTEN connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from partnerhub import jobs
from partnerhub.config import Settings
from partnerhub.db import Database, sync_engine
from tests.conftest import bearer
from tests.customers.helpers import BASE, WRITE
from tests.factories import Tenant, create_template, meetings_body

PREPARED = "SELECT count(*) FROM pg_prepared_statements"
LISTENERS = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
    " AND datname = current_database()"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """What docs/scaling.md prescribes behind PgBouncer in transaction pooling mode."""
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        database_prepared_statements=False,
        worker_listen=False,
        worker_poll_seconds=0.3,
    )


async def _prepared_after_repeats(conn: Any) -> int:
    """Run one statement 10 times (psycopg prepares from the 5th by default) on a driver
    connection; the statements then prepared on its server connection."""
    for n in range(10):
        await (await conn.execute("SELECT %s::int + 1", (n,))).fetchone()
    row = await (await conn.execute(PREPARED)).fetchone()
    return int(row[0])


async def _engine_prepared(db: Database) -> tuple[Any, int]:
    async with db.engine.connect() as conn:
        for n in range(10):
            await conn.execute(text("SELECT CAST(:n AS int) + 1"), {"n": n})
        count = (await conn.execute(text(PREPARED))).scalar_one()
        raw = (await conn.get_raw_connection()).driver_connection
        return raw.prepare_threshold, int(count)


async def _direct_prepared(db: Database) -> tuple[Any, int]:
    pool = await db.autocommit()
    async with pool.connection() as conn:
        return conn.prepare_threshold, await _prepared_after_repeats(conn)


async def test_prepared_statements_off_reach_every_pool(app: FastAPI, settings: Settings) -> None:
    db: Database = app.state.db  # runtime.init(settings, …) under the app's lifespan
    assert await _engine_prepared(db) == (None, 0)
    assert await _direct_prepared(db) == (None, 0)
    assert jobs._pool is not None  # procrastinate's pool, opened by the lifespan
    async with jobs._pool.connection() as conn:
        assert conn.prepare_threshold is None
        assert await _prepared_after_repeats(conn) == 0
    # the times the direct pool's connections are in UTC without a start-up parameter
    # (PgBouncer refuses ``options``)
    pool = await db.autocommit()
    async with pool.connection() as conn:
        assert (await (await conn.execute("SHOW TimeZone")).fetchone()) == ("UTC",)
    # migrations and `db status`
    engine = sync_engine(db.url, prepared_statements=False)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None and raw.prepare_threshold is None
    finally:
        engine.dispose()


async def test_prepared_statements_stay_on_by_default(clean_db: str) -> None:
    db = Database(clean_db, 1)
    try:
        threshold, count = await _engine_prepared(db)
        assert threshold == 5 and count > 0
        threshold, count = await _direct_prepared(db)
        assert threshold == 5 and count > 0
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """The worker as ``partnerhub serve`` and ``partnerhub worker`` run it."""
    task = asyncio.create_task(jobs.run_configured_worker(settings, 2))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _status(client: httpx.AsyncClient, token: str, location: str) -> str:
    response = await client.get(location, headers=bearer(token))
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def _listeners(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(LISTENERS)).fetchone()
    return int(row[0]) if row else 0


async def _registered(url: str, before: int, within: float = 30) -> None:
    began = time.monotonic()
    while True:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM procrastinate_workers WHERE id > %s", [before]
                )
            ).fetchone()
        if row and row[0]:
            return
        assert time.monotonic() - began < within, "the worker never registered"
        await asyncio.sleep(0.05)


async def _last_worker(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (
            await conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers")
        ).fetchone()
    return int(row[0]) if row else 0


async def test_worker_without_listen_finds_jobs_by_polling(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, clean_db: str
) -> None:
    token = await tenant.token(WRITE)
    template = await create_template(client, tenant)

    # A slow poll: a job deferred while the worker is idle waits for the next look — no
    # NOTIFY wakes it, there is no LISTEN connection.
    slow = settings.model_copy(update={"worker_poll_seconds": 30.0})
    before = await _last_worker(clean_db)
    async with worker(slow):
        await _registered(clean_db, before)
        await asyncio.sleep(0.5)  # its first look found nothing; now it sleeps
        response = await client.post(
            BASE, json=meetings_body(template["provisioningId"], 1), headers=bearer(token)
        )
        assert response.status_code == 202, response.text
        first = response.headers["Location"]
        await asyncio.sleep(2.0)
        assert await _listeners(clean_db) == 0
        assert await _status(client, token, first) == "provisioning"

    # The configured short poll: the jobs are found and done, still without LISTEN.
    before = await _last_worker(clean_db)
    async with worker(settings):
        await _registered(clean_db, before)
        response = await client.post(
            BASE, json=meetings_body(template["provisioningId"], 2), headers=bearer(token)
        )
        assert response.status_code == 202, response.text
        second = response.headers["Location"]
        began = time.monotonic()
        while {await _status(client, token, loc) for loc in (first, second)} != {"provisioned"}:
            assert time.monotonic() - began < 15, "the jobs were not done by polling"
            await asyncio.sleep(0.1)
        assert await _listeners(clean_db) == 0
    async with await psycopg.AsyncConnection.connect(clean_db) as conn:
        done = await (
            await conn.execute(
                "SELECT status, count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'customers.provision' GROUP BY status"
            )
        ).fetchall()
    assert done == [("succeeded", 2)]


def test_poll_interval_follows_listen() -> None:
    assert Settings(worker_listen=True).worker_poll() == 5.0
    assert Settings(worker_listen=False).worker_poll() == 1.0
    assert Settings(worker_listen=False, worker_poll_seconds=0.25).worker_poll() == 0.25


async def test_orm_connections_are_utc_and_transactional(clean_db: str) -> None:
    """The ORM engine's connections get the session set-up (``SET TIME ZONE 'UTC'``, sent in
    autocommit: no BEGIN/COMMIT of its own) and are then back in transactions: a unit of work
    that fails leaves nothing."""
    db = Database(clean_db, pool_size=1)
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                zone = (await session.execute(text("SHOW TimeZone"))).scalar()
                raw = (await (await session.connection()).get_raw_connection()).driver_connection
                assert zone == "UTC" and raw is not None and raw.autocommit is False
                await session.execute(text("CREATE TABLE pooler_probe (x int)"))
                raise RuntimeError("roll back")
        async with db.transaction() as session:
            gone = (await session.execute(text("SELECT to_regclass('pooler_probe')"))).scalar()
        assert gone is None
    finally:
        await db.dispose()
