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


USAGE_ROW = re.compile(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td></tr>")


def usage_section(html: str) -> list[tuple[str, str, int, int]]:
    """The rows of the customer page's usage card (package label, assigned to, quantity,
    days)."""
    start = html.index('<section class="card" id="usage">')
    section = html[start : html.index("</section>", start)]
    return [(p, a, int(q), int(d)) for p, a, q, d in USAGE_ROW.findall(section)]


async def test_customer_page_shows_usage_this_month(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Real data: a customer holding two packages, subscribers of both (one since the first of
    the month, one added today, one changed today from one package to the other, one deleted
    before the month), another customer of the same partner. The page shows each package's
    customer-level days and its subscribers summed, as counted here day by day."""
    from tests.billing.test_totals import add_subscriber
    from tests.factories import SUB_READ, SUB_WRITE

    token = await tenant.token(SUB_WRITE, SUB_READ)
    setup = await make_customer(
        db, tenant, packages=["webex_meetings", "cx_standard_agent"], hq=False
    )
    other = await make_customer(db, tenant, packages=["webex_meetings"], hq=False)
    s1 = await add_subscriber(client, token, setup, "s1@u.example", "webex_meetings")
    s2 = await add_subscriber(client, token, setup, "s2@u.example", "cx_standard_agent")
    s3 = await add_subscriber(client, token, setup, "s3@u.example", "webex_meetings")
    await add_subscriber(client, token, setup, "s4@u.example", "webex_meetings")  # added now
    s5 = await add_subscriber(client, token, setup, "s5@u.example", "webex_meetings")
    await add_subscriber(client, token, other, "o1@u.example", "webex_meetings")
    today = await _today(db)
    month_start = datetime.combine(today.replace(day=1), time(), UTC)
    async with db.transaction() as session:
        # The customer's own packages and s1, s2, s3 held since before the month.
        await session.execute(
            text(
                "UPDATE usage_ledger SET valid_from = :t WHERE customer_id = :c"
                " AND (subscriber_id IS NULL OR subscriber_id IN (:a, :b, :d))"
            ),
            {
                "t": month_start - timedelta(days=40),
                "c": setup.customer.id,
                "a": s1,
                "b": s2,
                "d": s3,
            },
        )
        # s5 held webex_meetings only last month.
        await session.execute(
            text("UPDATE usage_ledger SET valid_from = :f, valid_to = :t WHERE subscriber_id = :s"),
            {"f": month_start - timedelta(days=20), "t": month_start - timedelta(days=2), "s": s5},
        )
    # s3 changes package now (through the API): webex_meetings ends, cx_standard_agent starts.
    changed = await client.put(
        f"/v1/wholesale/subscribers/{ids.encode('SUBSCRIBER', s3, 'us')}",
        json={"packages": ["cx_standard_agent"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 200, changed.text
    month_days = today.day  # the midnights at the end of the 1st .. today
    # Counted here: customer-level both packages the whole month; webex_meetings subscribers
    # s1 (whole month), s3 (up to yesterday: today's midnight finds it on the other package),
    # s4 (today); cx_standard_agent s2 (whole month), s3 (today).
    meetings = [d for d in (month_days, month_days - 1, 1) if d > 0]  # none on the 1st for s3
    want = [
        ("Contact Center Standard Agent", "Customer", 1, month_days),
        ("Contact Center Standard Agent", "Users", 2, month_days + 1),
        ("Webex Meetings", "Customer", 1, month_days),
        ("Webex Meetings", "Users", len(meetings), sum(meetings)),
    ]
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get(f"/customers/{setup.id}")
    assert page.status_code == 200
    assert "Usage this month" in page.text
    assert usage_section(page.text) == want
    # In Italian: the same figures under translated headings.
    switched = await client.post(
        "/language", data={"csrf_token": csrf, "lang": "it", "next": f"/customers/{setup.id}"}
    )
    assert switched.status_code == 303
    page = await client.get(f"/customers/{setup.id}")
    assert "Utilizzo di questo mese" in page.text and "Giorni fatturabili" in page.text
    assert [(q, d) for _, _, q, d in usage_section(page.text)] == [(q, d) for *_, q, d in want]
    # A customer with nothing billable this month yet says so.
    empty = await make_customer(db, tenant, packages=["webex_meetings"], hq=False, status="error")
    page = await client.get(f"/customers/{empty.id}")
    assert page.status_code == 200
    assert "Ancora nessun utilizzo fatturabile questo mese." in page.text
