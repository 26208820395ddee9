"""Regressions found by the fault runs (docs/reliability.md, "Faults"):

* a live worker's job was taken for a dead worker's (the reconciler failed it and ran it again)
  when ``PARTNERHUB_STALLED_JOB_SECONDS`` was below procrastinate's fixed 10 s heartbeat;
* the worker ended for good when it lost the database (a PostgreSQL restart): ``partnerhub
  worker`` exited, and the in-process worker of ``partnerhub serve`` silently stopped;
* an import whose worker died waited 300 s (a constant) for the reconciler instead of
  ``PARTNERHUB_STALLED_JOB_SECONDS``;
* an API request waited 10 s for a database connection while PostgreSQL was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from partnerhub import jobs
from partnerhub.config import Settings
from partnerhub.db import Database
from tests.conftest import bearer
from tests.customers.helpers import BASE, WRITE
from tests.factories import SUB_WRITE, Tenant, create_template, make_customer, meetings_body

LISTENER = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
STALLED = 3  # seconds: the worker's heartbeat must come well within this
DOING = (
    "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND task_name = 'customers.provision'"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Each downstream call takes 2.5 s: a meetings customer's job runs ~5 s, past STALLED."""
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        backend="fault",
        fault_latency_ms=2500,
        stalled_job_seconds=STALLED,
        provisioning_retry_seconds=0.0,
    )


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """The worker as ``partnerhub serve`` runs it in-process."""
    task = asyncio.create_task(jobs.run_worker(2, settings.worker_heartbeat_seconds()))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return list(await (await conn.execute(sql)).fetchall())


async def worker_ids(url: str) -> set[int]:
    return {r[0] for r in await rows(url, "SELECT id FROM procrastinate_workers")}


async def post_customer(
    client: httpx.AsyncClient, token: str, template: dict[str, Any], n: int
) -> str:
    for _ in range(20):  # a connection the test broke answers 503 once
        response = await client.post(
            BASE, json=meetings_body(template["provisioningId"], n), headers=bearer(token)
        )
        if response.status_code != 503:
            break
    assert response.status_code == 202, response.text
    return str(response.headers["Location"])


async def wait_status(client: httpx.AsyncClient, token: str, url: str, within: float) -> str:
    deadline = time.monotonic() + within
    status = ""
    while time.monotonic() < deadline:
        response = await client.get(url, headers=bearer(token))
        if response.status_code == 200:
            status = response.json()["status"]
            if status != "provisioning":
                return status
        await asyncio.sleep(0.2)
    return status


async def test_live_worker_job_is_not_taken_for_a_dead_one(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, clean_db: str
) -> None:
    from partnerhub.customers import tasks

    token = await tenant.token(WRITE)
    url = await post_customer(client, token, await create_template(client, tenant), 1)
    async with worker(settings):
        began = time.monotonic()
        while not await rows(clean_db, DOING):
            assert time.monotonic() - began < 30, "the job never started"
            await asyncio.sleep(0.05)
        await asyncio.sleep(STALLED + 0.5)  # the job runs longer than STALLED
        assert await rows(clean_db, DOING)
        stalled = await jobs.app.job_manager.get_stalled_jobs(
            task_name=tasks.PROVISION_TASK, seconds_since_heartbeat=STALLED
        )
        assert list(stalled) == []
        assert await wait_status(client, token, url, 30) == "provisioned"
    statuses = await rows(
        clean_db, "SELECT status FROM procrastinate_jobs WHERE task_name = 'customers.provision'"
    )
    assert statuses == [("succeeded",)]


async def test_worker_outlives_a_lost_database(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, clean_db: str
) -> None:
    """The listener's connection is cut while the database refuses new ones (as while it
    restarts): procrastinate stops the worker, whose shutdown then succeeds, so it ends
    *without* an error — it was taken for a requested stop and the worker process ended. (A
    real restart, every connection cut, is the restart phase of test_faults.py.)"""
    token = await tenant.token(WRITE)
    template = await create_template(client, tenant)
    earlier = await worker_ids(clean_db)  # clean_db keeps procrastinate_workers
    async with worker(settings) as task:
        began = time.monotonic()
        while not await rows(clean_db, LISTENER):
            assert time.monotonic() - began < 30, "the worker never started listening"
            await asyncio.sleep(0.05)
        (registered,) = await worker_ids(clean_db) - earlier
        (name,) = (await rows(clean_db, "SELECT current_database()"))[0]
        # from another database of the server: a database cannot refuse its own sessions
        async with await psycopg.AsyncConnection.connect(
            clean_db, dbname="postgres", autocommit=True
        ) as admin:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            try:
                cut = await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND query LIKE 'LISTEN%%'",
                    (name,),
                )
                assert await cut.fetchall()
                await asyncio.sleep(2)
            finally:
                await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        began = time.monotonic()
        while registered in await worker_ids(clean_db):
            assert time.monotonic() - began < 30, "the worker did not notice"
            await asyncio.sleep(0.1)
        url = await post_customer(client, token, template, 2)
        assert await wait_status(client, token, url, 40) == "provisioned"
        assert not task.done()
        assert await worker_ids(clean_db) - earlier - {registered}  # a new one


async def test_import_of_a_dead_worker_is_rerun_after_stalled_job_seconds(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, clean_db: str
) -> None:
    from partnerhub.subscribers import tasks

    setup = await make_customer(db, tenant)
    token = await tenant.token(SUB_WRITE)
    accepted = await client.post(
        f"/v1/partner/customers/{setup.id}/imports",
        json={
            "csv": "email,package\n" + "".join(f"d{i}@c.example,webex_meetings\n" for i in range(3))
        },
        headers=bearer(token),
    )
    assert accepted.status_code == 202, accepted.text
    # its worker took the job and died 10 s ago (> STALLED, far below the old 300 s)
    async with db.transaction() as session:
        dead = (
            await session.execute(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '10 seconds') RETURNING id"
                )
            )
        ).scalar_one()
        await session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"), {"w": dead}
        )
        await session.execute(
            text(
                "UPDATE subscriber_imports SET status = 'running', "
                "created = now() - interval '10 seconds'"
            )
        )
    rerun = await tasks.reconcile_now()
    assert len(rerun) == 1
    await jobs.app.run_worker_async(
        queues=["imports"], wait=False, install_signal_handlers=False, listen_notify=False
    )
    done = (await client.get(accepted.headers["Location"], headers=bearer(token))).json()
    assert (done["status"], done["createdCount"]) == ("succeeded", 3)


async def test_bearer_check_answers_fast_while_the_database_is_away() -> None:
    from partnerhub.identity import service as identity
    from partnerhub.kit.web import classify_unhandled

    with socket.socket() as s:  # a port nobody listens on: the server is away
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    away = Database(f"postgresql://postgres@127.0.0.1:{port}/partnerhub", 2)
    began = time.monotonic()
    try:
        with pytest.raises(Exception) as caught:
            await identity.authenticate_bearer(away, "Bearer nothing", "addr:x", 0, 0)
    finally:
        await away.dispose()
    assert time.monotonic() - began < 5  # was 10 s
    status, _, code, retry = classify_unhandled(caught.value, "t")
    assert (status, code, retry) == (503, 1600, "5")
