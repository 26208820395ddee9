"""A job's outcome is recorded even when the database drops the worker's connection.

Found by the PgBouncer scale-out run (scripts/ci_pgbouncer.sh): PostgreSQL restarted just as
a worker finished three provisioning jobs; writing their outcome failed, the worker itself
lived on (its heartbeat had waited in PgBouncer's queue and succeeded), so the jobs stayed
``doing`` under a live worker — the reconciler re-runs only dead workers' jobs — and their
customers never left ``provisioning``. ``jobs.JobManager`` now writes the outcome again while
the database is away.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status

from partnerhub import jobs
from tests.conftest import bearer
from tests.customers.helpers import BASE, WRITE
from tests.factories import Tenant, create_template, meetings_body

CUT = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def _doing_job(client: httpx.AsyncClient, tenant: Tenant) -> object:
    token = await tenant.token(WRITE)
    template = await create_template(client, tenant)
    response = await client.post(
        BASE, json=meetings_body(template["provisioningId"], 1), headers=bearer(token)
    )
    assert response.status_code == 202, response.text
    worker_id = await jobs.app.job_manager.register_worker()
    job = await jobs.app.job_manager.fetch_job(queues=["provisioning"], worker_id=worker_id)
    assert job is not None
    return job


async def _status(url: str, job_id: int) -> str:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (
            await conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [job_id])
        ).fetchone()
    assert row is not None
    return str(row[0])


async def _cut_every_connection(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(CUT)
    await asyncio.sleep(0.2)


async def test_outcome_written_again_after_a_lost_connection(
    client: httpx.AsyncClient, tenant: Tenant, clean_db: str
) -> None:
    job = await _doing_job(client, tenant)
    assert await _status(clean_db, job.id) == "doing"
    await _cut_every_connection(clean_db)  # the worker's pooled connections are now dead
    began = time.monotonic()
    await jobs.app.job_manager.finish_job(job, status=Status.SUCCEEDED, delete_job=False)
    assert time.monotonic() - began < 10
    assert await _status(clean_db, job.id) == "succeeded"


async def test_other_errors_are_not_retried(
    client: httpx.AsyncClient, tenant: Tenant, clean_db: str
) -> None:
    job = await _doing_job(client, tenant)
    await jobs.app.job_manager.finish_job(job, status=Status.SUCCEEDED, delete_job=False)
    began = time.monotonic()
    with pytest.raises(ConnectorException):  # no longer "doing": refused at once
        await jobs.app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
    assert time.monotonic() - began < 2
    assert await _status(clean_db, job.id) == "succeeded"
