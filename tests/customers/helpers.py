"""Shared helpers for customer tests: bodies, templates, waiting for jobs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from partnerhub import jobs
from tests.conftest import Tenant, bearer

READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"
SUB_READ = "spark-admin:wholesale_sub_partners_read"
PRECHECK = "partnerhub:precheck"
TEMPLATES_WRITE = "partnerhub:templates_write"
BASE = "/v1/wholesale/customers"
SETTLED = {"provisioned", "provisioned_with_errors", "error"}


async def create_template(
    client: httpx.AsyncClient, tenant: Tenant, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Template {time.monotonic_ns()}",
        "offer": "wholesale",
        "serviceProviderAdminEmail": tenant.admin.email,
        "country": "IT",
        "defaultEmailLanguage": "it_IT",
        "wholesaleSubscriptionId": "Sub-1234",
        "authentication": {"method": "platform"},
        "email": {"brandName": "Acme Cloud", "allowAdminInviteOnLink": False},
    }
    body.update(overrides)
    token = await tenant.token(TEMPLATES_WRITE)
    response = await client.post("/v1/partner/templates", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def location(country: str = "US", **overrides: Any) -> dict[str, Any]:
    addresses = {
        "US": {
            "addressLine1": "771 Alder Drive",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "IT": {
            "addressLine1": "Via Roma 1",
            "city": "Milano",
            "stateOrProvince": "MI",
            "zipOrPostalCode": "20121",
            "country": "IT",
        },
    }
    body: dict[str, Any] = {
        "name": "Head Office",
        "address": dict(addresses[country]),
        "timezone": "America/Los_Angeles" if country == "US" else "Europe/Rome",
        "language": "en_US" if country == "US" else "it_IT",
    }
    body.update(overrides)
    return body


def customer_body(provisioning_id: str, n: int | str = 1, **overrides: Any) -> dict[str, Any]:
    """A valid US customer with webex_calling and webex_meetings."""
    body: dict[str, Any] = {
        "provisioningId": provisioning_id,
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": f"ext-{n}",
        "address": {
            "addressLine1": "771 Alder Drive",
            "addressLine2": "Cisco Site 5",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "customerInfo": {"name": f"John's Pizza {n}", "primaryEmail": f"john{n}@pizza.example"},
        "provisioningParameters": {"calling": {"location": location("US")}},
    }
    body.update(overrides)
    return body


def meetings_body(provisioning_id: str, n: int | str = 1, **overrides: Any) -> dict[str, Any]:
    """A valid customer without calling packages (no location needed)."""
    body = customer_body(provisioning_id, n, packages=["webex_meetings"])
    del body["provisioningParameters"]
    body.update(overrides)
    return body


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
