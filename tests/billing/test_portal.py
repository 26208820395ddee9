"""The portal's Billing page: request a report, watch it, download and delete it (English and
Italian), refusals shown on the page, read-only administrators, and the customer page's usage
rows (``billing.views.customer_usage``)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time as clock
from datetime import UTC, datetime, time, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from partnerhub import ids
from partnerhub.billing import views
from partnerhub.db import Database
from partnerhub.identity import service as identity
from tests.billing.test_reports_api import FIRST, LAST
from tests.conftest import Tenant, portal_login
from tests.factories import make_customer
from tests.portal.helpers import browser_session

REPORT_LINK = re.compile(r'href="/billing/([A-Za-z0-9_-]+)/download"')


async def test_request_watch_download_delete(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database, worker: None
) -> None:
    setup = await make_customer(
        db, tenant, packages=["webex_meetings"], hq=False, external_id="ext-p"
    )
    async with db.transaction() as session:  # held since before last month
        await session.execute(
            text("UPDATE usage_ledger SET valid_from = :t WHERE customer_id = :c"),
            {"t": datetime.combine(FIRST, time(), UTC) - timedelta(days=3), "c": setup.customer.id},
        )
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/billing")
    assert page.status_code == 200
    assert "No billing reports yet." in page.text and 'href="/billing"' in page.text
    requested = await client.post(
        "/billing",
        data={
            "csrf_token": csrf,
            "start": FIRST.isoformat(),
            "end": LAST.isoformat(),
            "type": "CUSTOMER",
            "category": "RECONCILIATION",
        },
    )
    assert requested.status_code == 303 and requested.headers["location"] == "/billing?requested=1"
    deadline = clock.monotonic() + 30
    while True:
        fragment = await client.get("/billing/reports")
        assert fragment.status_code == 200
        if "data-settled" in fragment.text:
            break
        assert clock.monotonic() < deadline, fragment.text
        await asyncio.sleep(0.1)
    page = await client.get("/billing")
    assert "Completed" in page.text and "data-poll" not in page.text
    ref = REPORT_LINK.search(page.text)
    assert ref, page.text
    downloaded = await client.get(f"/billing/{ref.group(1)}/download")
    assert downloaded.status_code == 200
    rows = list(csv.DictReader(io.StringIO(downloaded.text)))
    assert [(r["customer_external_id"], r["usage_days"]) for r in rows] == [
        ("ext-p", str((LAST - FIRST).days + 1))
    ]
    # The report names the administrator who asked for it.
    api_token = await tenant.token("spark-admin:wholesale_billing_reports_read")
    got = await client.get(
        f"/v1/wholesale/billing/reports/{ref.group(1)}",
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert got.json()["createdBy"] == ids.encode("PEOPLE", tenant.admin.id, ids.HUB)
    # The same report again is refused on the page (409), nothing added.
    again = await client.post(
        "/billing",
        data={
            "csrf_token": csrf,
            "start": FIRST.isoformat(),
            "end": LAST.isoformat(),
            "type": "CUSTOMER",
        },
    )
    assert again.status_code == 409 and 'role="alert"' in again.text
    assert len(REPORT_LINK.findall(again.text)) == 1
    deleted = await client.post(f"/billing/{ref.group(1)}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    page = await client.get("/billing?deleted=1")
    assert "The report was deleted." in page.text and "No billing reports yet." in page.text
    assert (await client.get(f"/billing/{ref.group(1)}/download")).status_code == 404


async def test_refusals_and_italian(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    refused = await client.post("/billing", data={"csrf_token": csrf, "start": "", "end": ""})
    assert refused.status_code == 400 and "Start date: this field is required" in refused.text
    switched = await client.post(
        "/language", data={"csrf_token": csrf, "lang": "it", "next": "/billing"}
    )
    assert switched.status_code == 303
    page = await client.get("/billing")
    assert "Fatturazione" in page.text and "Richiedi un report" in page.text
    assert "Ancora nessun report di fatturazione." in page.text


async def test_read_only_administrator_sees_but_cannot_request(
    app: FastAPI, tenant: Tenant
) -> None:
    admin, password = await tenant.add_admin("read_only")
    async with browser_session(app) as reader:
        csrf = await portal_login(reader, admin.email, password)
        page = await reader.get("/billing")
        assert page.status_code == 200 and "Request a report" not in page.text
        refused = await reader.post(
            "/billing",
            data={"csrf_token": csrf, "start": FIRST.isoformat(), "end": LAST.isoformat()},
        )
        assert refused.status_code == 403


async def test_customer_usage_rows(db: Database, tenant: Tenant) -> None:
    setup = await make_customer(
        db, tenant, packages=["webex_meetings", "cx_standard_agent"], hq=False
    )
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE usage_ledger SET valid_from = date_trunc('month', now())"
                " WHERE customer_id = :c"
            ),
            {"c": setup.customer.id},
        )
    principal = identity.principal_for_admin(tenant.admin)
    async with db.transaction() as session:
        rows = await views.customer_usage(session, principal, setup.customer.id)
    today = (await _today(db)).day
    assert [(r.package, r.assigned_to, r.quantity, r.usage_days) for r in rows] == [
        ("cx_standard_agent", "CUSTOMER", 1, today),
        ("webex_meetings", "CUSTOMER", 1, today),
    ]
    # Another partner's principal sees nothing of it.
    from tests.conftest import make_tenant

    other = await make_tenant(db, "Other")
    async with db.transaction() as session:
        assert (
            await views.customer_usage(
                session, identity.principal_for_admin(other.admin), setup.customer.id
            )
            == []
        )


async def _today(db: Database):  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        return (await session.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date"))).scalar_one()
