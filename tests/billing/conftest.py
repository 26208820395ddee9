"""Fixtures of the billing tests: tokens, a worker, helpers to wait for a report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, bearer
from tests.customers.helpers import running_worker

READ = "spark-admin:wholesale_billing_reports_read"
WRITE = "spark-admin:wholesale_billing_reports_write"
BASE = "/v1/wholesale/billing/reports"


@pytest.fixture
async def worker(app: Any) -> AsyncIterator[None]:
    async with running_worker():
        yield


@pytest.fixture
async def token(tenant: Tenant) -> str:
    return await tenant.token(WRITE)


async def wait_report(
    client: httpx.AsyncClient, report_id: str, token: str, within: float = 30.0
) -> dict[str, Any]:
    """Poll the report until it is no longer IN_PROGRESS."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        response = await client.get(f"{BASE}/{report_id}", headers=bearer(token))
        assert response.status_code == 200, response.text
        last = response.json()
        if last["status"] != "IN_PROGRESS":
            result: dict[str, Any] = last
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"report still in progress: {last}")
