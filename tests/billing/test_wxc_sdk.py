"""The billing reports through ``wxc_sdk``'s REST layer (its ``RestSession``: bearer token,
TrackingID, JSON, ``Link`` pagination) against a real ``partnerhub serve`` with its worker:
create, follow the list's pages until the report is completed, download the CSV from
``tempDownloadURL`` with no token (as from the vendor's storage), delete."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import text

from partnerhub.db import Database
from tests.billing.conftest import WRITE
from tests.conftest import LiveServer, Tenant
from tests.factories import make_customer

LAST = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
FIRST = LAST.replace(day=1)


async def test_billing_reports_through_wxc_sdk(
    live_server: LiveServer, live_db: Database, acme: Tenant
) -> None:
    from wxc_sdk import WebexSimpleApi

    setup = await make_customer(
        live_db, acme, packages=["webex_meetings"], hq=False, external_id="sdk-1"
    )
    async with live_db.transaction() as session:  # held since before last month
        await session.execute(
            text("UPDATE usage_ledger SET valid_from = :t WHERE customer_id = :c"),
            {"t": datetime(FIRST.year, FIRST.month, 1, tzinfo=UTC), "c": setup.customer.id},
        )
    token = await acme.token(WRITE)
    base = f"{live_server.url}/v1/wholesale/billing/reports"

    def drive() -> tuple[dict[str, Any], list[dict[str, Any]], str, int]:
        api = WebexSimpleApi(tokens=token)
        try:
            session = api.session
            created: Any = session.rest_post(
                base,
                json={
                    "billingStartDate": FIRST.isoformat(),
                    "billingEndDate": LAST.isoformat(),
                    "type": "CUSTOMER",
                },
            )
            # Two more, so that max=1 pages through Link headers.
            for kind in ("USER", "PARTNER"):
                session.rest_post(
                    base,
                    json={
                        "billingStartDate": FIRST.isoformat(),
                        "billingEndDate": LAST.isoformat(),
                        "type": kind,
                    },
                )
            deadline = time.monotonic() + 60
            while True:
                listed = list(
                    session.follow_pagination(url=base, params={"max": 1, "type": "CUSTOMER"})
                )
                everything = list(session.follow_pagination(url=base, params={"max": 1}))
                if listed and listed[0]["status"] == "COMPLETED":
                    break
                assert time.monotonic() < deadline, listed
                time.sleep(0.2)
            report: Any = session.rest_get(f"{base}/{created['id']}")
            download = requests.get(report["tempDownloadURL"], timeout=30)  # no token
            assert download.status_code == 200, download.text
            assert download.headers["Content-Type"].startswith("text/csv")
            session.rest_delete(f"{base}/{created['id']}")
            after = requests.get(
                f"{base}/{created['id']}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            return created, everything, download.text, after.status_code
        finally:
            api.close()

    created, everything, csv_text, after = await asyncio.to_thread(drive)
    assert created["type"] == "CUSTOMER" and created["category"] == "RECONCILIATION"
    assert len(everything) == 3  # three pages of one, followed by wxc_sdk through Link
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    days = str((LAST - FIRST).days + 1)
    assert [(r["customer_external_id"], r["package"], r["usage_days"]) for r in rows] == [
        ("sdk-1", "webex_meetings", days)
    ]
    assert csv_text.startswith("report_version,")
    assert after == 404
