"""Shared helpers for customer tests: scopes, waiting for jobs, a worker (the bodies and the
template factory are in :mod:`tests.factories`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from partnerhub import jobs
from tests.conftest import bearer
from tests.factories import (  # noqa: F401 - re-exported while tests/customers/test_fast_*.py import them here
    create_template,
    customer_body,
    location,
    meetings_body,
)

READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"
SUB_READ = "spark-admin:wholesale_sub_partners_read"
PRECHECK = "partnerhub:precheck"
TEMPLATES_WRITE = "partnerhub:templates_write"
BASE = "/v1/wholesale/customers"
SETTLED = {"provisioned", "provisioned_with_errors", "error"}


async def wait_for(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    statuses: set[str] | None = None,
    within: float = 30.0,
    gone: bool = False,
) -> dict[str, Any]:
    """Poll the customer until its status is one of ``statuses`` (or it is gone)."""
    wanted = statuses or SETTLED
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        response = await client.get(url, headers=bearer(token))
        if gone and response.status_code == 404:
            return {}
        if response.status_code == 200:
            last = response.json()
            if not gone and last["status"] in wanted:
                result: dict[str, Any] = last
                return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"customer did not reach {wanted} (gone={gone}): last {last}")


@contextlib.asynccontextmanager
async def running_worker(concurrency: int = 4) -> AsyncIterator[None]:
    """A real procrastinate worker, in this process, on the test database."""
    task = asyncio.create_task(
        jobs.app.run_worker_async(
            concurrency=concurrency,
            wait=True,
            fetch_job_polling_interval=0.05,
            abort_job_polling_interval=1,
            install_signal_handlers=False,
            update_heartbeat_interval=1,
            name="test-worker",
        )
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
