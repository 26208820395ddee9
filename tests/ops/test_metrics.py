"""/metrics: Prometheus's text format, parsed by prometheus_client's own parser; request
counters move with requests (labelled by route template), the
job queues are read from the database, provisioning outcomes and email deliveries are
counted once done; only the token or a listed network may read it, and without either
setting it does not exist."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from partnerhub import __version__, jobs
from partnerhub.config import Settings
from partnerhub.db import Database
from tests.conftest import bearer
from tests.customers.helpers import BASE, READ, WRITE, running_worker, wait_for
from tests.factories import SUB_WRITE, Tenant, create_template, make_customer, meetings_body
from tests.notifications.conftest import Mailbox

TOKEN = "metrics-token-3f9a0c5e7d"
ALLOWED = "10.1.2.0/24"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(tmp_path: Path, smtp_server: tuple[Mailbox, int]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server[1],
        smtp_security="none",
        metrics_token=TOKEN,
        metrics_addresses=ALLOWED,
    )


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    return smtp_server[0]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await tenant.token(READ)
    before = await scrape(client)
    for _ in range(3):  # the customers list
        assert (await client.get(BASE, headers=bearer(token))).status_code == 200
    missing = await client.get(
        f"{BASE}/Y2lzY29zcGFyazovL3VzL0NVU1RPTUVSL25vbmU", headers=bearer(token)
    )
    assert missing.status_code == 404  # an ordinary route, with a path parameter
    assert (await client.get("/no/such/page")).status_code == 404
    assert (await client.request("BREW", "/no/such/page")).status_code in (404, 405)
    after = await scrape(client)

    fast = {"method": "GET", "route": BASE, "status": "200"}
    assert (
        value(after, "partnerhub_http_requests_total", **fast)
        - value(before, "partnerhub_http_requests_total", **fast)
        == 3
    )
    templated = {"method": "GET", "route": f"{BASE}/{{customer_id}}", "status": "404"}
    assert (
        value(after, "partnerhub_http_requests_total", **templated)
        - value(before, "partnerhub_http_requests_total", **templated)
        == 1
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, "partnerhub_http_requests_total", **unmatched) >= 1
    # the latency histogram counts the same requests, in its buckets
    assert (
        value(after, "partnerhub_http_request_duration_seconds_count", **fast)
        - value(before, "partnerhub_http_request_duration_seconds_count", **fast)
        == 3
    )
    assert value(after, "partnerhub_http_request_duration_seconds_bucket", le="+Inf", **fast) == (
        value(after, "partnerhub_http_request_duration_seconds_count", **fast)
    )
    # an invented method is not a label of its own
    assert (
        value(
            after, "partnerhub_http_requests_total", method="other", route="unmatched", status="404"
        )
        + value(
            after, "partnerhub_http_requests_total", method="other", route="unmatched", status="405"
        )
        >= 1
    )
    assert not any(("method", "BREW") in labels for _, labels in after)
    # no raw path (an id) ever becomes a label
    assert not any("Y2lzY29" in str(labels) for _, labels in after)
    # the pools of this process and the database's state
    assert value(after, "partnerhub_database_up") == 1
    assert value(after, "partnerhub_db_pool_max_connections", pool="orm") > 0
    assert ("partnerhub_db_pool_connections", (("pool", "direct"), ("state", "idle"))) in after
    assert value(after, "partnerhub_info", version=__version__) == 1


async def test_queue_depth_then_provisioning_and_email_counted(
    client: httpx.AsyncClient, tenant: Tenant, mailbox: Mailbox
) -> None:
    template = await create_template(client, tenant)
    token = await tenant.token(READ, WRITE)
    before = await scrape(client)
    body = meetings_body(template["provisioningId"], "metrics")
    created = await client.post(BASE, json=body, headers=bearer(token))
    assert created.status_code == 202, created.text

    queued = await scrape(client)  # no worker yet: the job waits in its queue
    assert value(queued, "partnerhub_job_queue_depth", queue="provisioning", status="todo") >= 1
    age = value(queued, "partnerhub_job_queue_oldest_age_seconds", queue="provisioning")
    assert 0 <= age < 60

    async with running_worker():
        url = created.json()["url"].replace("https://testserver", "")
        assert (await wait_for(client, url, token))["status"] == "provisioned"
        await mailbox.wait_for(1)
        for _ in range(100):  # the delivery is counted once its row says "sent"
            after = await scrape(client)
            sent = {"kind": "admin_invite", "outcome": "sent"}
            if value(after, "partnerhub_email_deliveries_total", **sent) > value(
                before, "partnerhub_email_deliveries_total", **sent
            ):
                break
            await asyncio.sleep(0.05)
    provisioned = {"operation": "provision", "outcome": "provisioned"}
    assert (
        value(after, "partnerhub_provisioning_outcomes_total", **provisioned)
        - value(before, "partnerhub_provisioning_outcomes_total", **provisioned)
        == 1
    )
    assert (
        value(after, "partnerhub_email_deliveries_total", **sent)
        - value(before, "partnerhub_email_deliveries_total", **sent)
        == 1
    )
    assert value(after, "partnerhub_job_queue_depth", queue="provisioning", status="todo") == 0


async def test_only_the_token_or_a_listed_network(app: FastAPI) -> None:
    async def get(client_address: str, headers: dict[str, str] | None = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client_address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            return await c.get("/metrics", headers=headers)

    nothing = await get("127.0.0.1")
    assert nothing.status_code == 401
    assert nothing.headers["www-authenticate"] == "Bearer"
    assert nothing.json()["errors"][0]["errorCode"] == 1500
    assert "partnerhub_" not in nothing.text
    assert (await get("203.0.113.9", {"Authorization": "Bearer wrong"})).status_code == 401
    assert (await get("203.0.113.9", {"Authorization": f"Basic {TOKEN}"})).status_code == 401
    assert (await get("203.0.113.9", AUTH)).status_code == 200  # the token, from anywhere
    listed = await get("10.1.2.77")  # a listed network, without the token
    assert listed.status_code == 200
    assert "partnerhub_http_requests_total" in listed.text


@pytest.fixture
async def app_without_metrics(clean_db: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    from partnerhub.app import create_app

    application = create_app(Settings(data_dir=tmp_path, admin_password="unused"), clean_db)
    async with application.router.lifespan_context(application):
        yield application


async def test_off_unless_configured(app_without_metrics: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app_without_metrics)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        response = await c.get("/metrics", headers=AUTH)
    assert response.status_code == 404
    assert "partnerhub_" not in response.text


async def test_import_rows_counted(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    setup = await make_customer(db, tenant)
    token = await tenant.token(SUB_WRITE)
    lines = ["First name,Last name,Email,Package,Location,Phone number,Extension,Admin role"]
    lines += [f"User,{i},bulk{i}@metrics.example,webex_meetings,,,," for i in range(5)]
    url = f"/v1/partner/customers/{setup.id}/imports"
    before = await scrape(client)
    for _ in range(2):  # then the same file again: every row exists already
        accepted = await client.post(
            url, json={"csv": "\n".join(lines) + "\n"}, headers=bearer(token)
        )
        assert accepted.status_code == 202, accepted.text
        await jobs.app.run_worker_async(
            queues=["imports"], wait=False, install_signal_handlers=False, listen_notify=False
        )
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("partnerhub_import_rows_total", outcome="created") == 5
    assert moved("partnerhub_import_rows_total", outcome="existing") == 5
    assert moved("partnerhub_imports_total", status="succeeded") == 2
