"""Ids are stable across endpoints: a report's id is the same string in the POST answer, the
list, the single GET, the download link and the DELETE; and the ids in the billing CSV are the
very strings the customers and subscribers APIs return — checked for an EU customer, whose ids
carry its region (``partnerhub://eu/...``), not the hub's."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text

from partnerhub import ids
from partnerhub.db import Database
from tests.billing.conftest import BASE, WRITE, wait_report
from tests.billing.test_totals import FIRST, LAST, add_subscriber
from tests.conftest import Tenant, bearer
from tests.factories import SUB_READ, SUB_WRITE, make_customer

CUSTOMERS_READ = "spark-admin:wholesale_customers_read"


def region_of_id(opaque: str) -> str:
    padded = opaque + "=" * (-len(opaque) % 4)
    return base64.urlsafe_b64decode(padded).decode().split("/")[2]


async def test_eu_customer_ids_match_across_the_apis_and_the_csv(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, worker: None
) -> None:
    token = await tenant.token(WRITE, SUB_WRITE, SUB_READ, CUSTOMERS_READ)
    eu = await make_customer(
        db, tenant, packages=["webex_meetings"], hq=False, data_region="EU", external_id="ext-eu"
    )
    created_sub = await client.post(
        "/v1/wholesale/subscribers",
        json={"customerId": eu.id, "email": "eu1@eu.example", "packages": ["webex_meetings"]},
        headers=bearer(token),
    )
    assert created_sub.status_code == 200, created_sub.text
    subscriber_api_id = created_sub.json()["id"]
    us = await make_customer(db, tenant, packages=["webex_meetings"], hq=False)
    await add_subscriber(client, token, us, "us1@us.example", "webex_meetings")
    async with db.transaction() as session:  # held since before last month
        await session.execute(
            text("UPDATE usage_ledger SET valid_from = :t"),
            {"t": datetime.combine(FIRST, time(), UTC) - timedelta(days=3)},
        )

    # What the customers and subscribers APIs say.
    customer = await client.get(f"/v1/wholesale/customers/{eu.id}", headers=bearer(token))
    assert customer.status_code == 200, customer.text
    customer_api_id, org_api_id = customer.json()["id"], customer.json()["orgId"]
    subscriber = await client.get(
        f"/v1/wholesale/subscribers/{subscriber_api_id}", headers=bearer(token)
    )
    assert subscriber.status_code == 200, subscriber.text
    assert subscriber.json()["customerId"] == customer_api_id
    listed = await client.get(
        "/v1/wholesale/subscribers", params={"customerId": customer_api_id}, headers=bearer(token)
    )
    assert [s["id"] for s in listed.json()["items"]] == [subscriber_api_id]
    for opaque in (customer_api_id, org_api_id, subscriber_api_id):
        assert region_of_id(opaque) == "eu", opaque  # the test means something

    for kind in ("USER", "CUSTOMER"):
        created = await client.post(
            BASE,
            json={
                "billingStartDate": FIRST.isoformat(),
                "billingEndDate": LAST.isoformat(),
                "type": kind,
            },
            headers=bearer(token),
        )
        assert created.status_code == 200, created.text
        report_id = created.json()["id"]
        report = await wait_report(client, report_id, token)
        assert report["status"] == "COMPLETED" and report["id"] == report_id
        # The report's id: one string on every endpoint.
        listing = await client.get(BASE, params={"type": kind}, headers=bearer(token))
        assert [r["id"] for r in listing.json()["items"]] == [report_id]
        url = report["tempDownloadURL"]
        assert urlsplit(url).path == f"{BASE}/{report_id}/download"
        downloaded = await client.get(url)
        assert downloaded.status_code == 200
        rows = list(csv.DictReader(io.StringIO(downloaded.text)))
        eu_rows = [r for r in rows if r["customer_external_id"] == "ext-eu"]
        assert eu_rows and all(r["customer_id"] == customer_api_id for r in eu_rows)
        assert all(r["customer_org_id"] == org_api_id for r in eu_rows)
        us_rows = [r for r in rows if r["customer_external_id"] != "ext-eu"]
        assert us_rows and all(r["customer_id"] == us.id for r in us_rows)
        if kind == "USER":
            assert [r["subscriber_id"] for r in eu_rows if r["assigned_to"] == "SUBSCRIBER"] == [
                subscriber_api_id
            ]
            assert {region_of_id(r["subscriber_id"]) for r in us_rows if r["subscriber_id"]} == {
                "us"
            }
        # The partner's own organization id: the hub's region, whatever the customer's.
        assert {r["partner_org_id"] for r in rows} == {
            ids.encode("ORGANIZATION", tenant.partner.id, ids.HUB)
        }
        deleted = await client.delete(f"{BASE}/{report_id}", headers=bearer(token))
        assert deleted.status_code == 204
