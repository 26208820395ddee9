"""A report's figures against an independent computation from the test's own record of what it
provisioned: customers and subscribers added mid-month, a package change, deletions, a
sub-partner's customers kept apart, intervals outside the month or shorter than a day.

The changes go through the API (subscribers, customer deletion with a worker) and the
customers factory; the triggers write the ledger, and the test checks the intervals they
wrote. The intervals' times are then set by SQL (a month cannot be waited for), and the test
counts, day by day, the days at whose end (midnight UTC) each package was held.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from partnerhub import ids
from partnerhub.db import Database
from tests.billing.conftest import BASE, READ, WRITE, wait_report
from tests.conftest import Tenant, bearer, make_tenant
from tests.customers.helpers import wait_for
from tests.factories import SUB_READ, SUB_WRITE, Setup, make_customer

LAST = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
FIRST = LAST.replace(day=1)
CUSTOMERS_WRITE = "spark-admin:wholesale_customers_write"
PACKAGES = ["webex_meetings", "cx_standard_agent"]
OPEN = None


def at(day_offset: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant relative to the first day of last month (UTC)."""
    return datetime.combine(FIRST + timedelta(days=day_offset), time(hour, minute), UTC)


@dataclass(frozen=True)
class Key:
    partner: uuid.UUID
    customer: uuid.UUID
    subscriber: uuid.UUID | None
    package: str


def days_held(start: datetime, end: datetime | None, first: date, last: date) -> int:
    """Days d in [first, last] at whose end (the next midnight UTC, minus an instant) the
    package was held — counted one by one."""
    count = 0
    day = first
    while day <= last:
        moment = datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
        if start <= moment and (end is None or moment < end):
            count += 1
        day += timedelta(days=1)
    return count


async def add_subscriber(
    client: httpx.AsyncClient, token: str, setup: Setup, email: str, package: str
) -> uuid.UUID:
    response = await client.post(
        "/v1/wholesale/subscribers",
        json={"customerId": setup.id, "email": email, "packages": [package]},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    found = ids.decode("SUBSCRIBER", response.json()["id"])
    assert found is not None
    return found


async def ledger(db: Database) -> dict[Key, list[tuple[datetime, datetime | None, str | None]]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT partner_id, customer_id, subscriber_id, package, valid_from,"
                " nullif(valid_to, 'infinity'), email FROM usage_ledger ORDER BY valid_from"
            )
        )
        out: dict[Key, list[tuple[datetime, datetime | None, str | None]]] = defaultdict(list)
        for p, c, s, pkg, start, end, email in rows:
            out[Key(p, c, s, pkg)].append((start, end, email))
    return out


async def set_times(db: Database, key: Key, start: datetime, end: datetime | None) -> None:
    async with db.transaction() as session:
        result = await session.execute(
            text(
                "UPDATE usage_ledger SET valid_from = :start,"
                " valid_to = coalesce(:end, 'infinity'::timestamptz)"
                " WHERE customer_id = :c AND subscriber_id IS NOT DISTINCT FROM :s"
                " AND package = :p"
            ),
            {"start": start, "end": end, "c": key.customer, "s": key.subscriber, "p": key.package},
        )
        assert result.rowcount == 1, key  # type: ignore[attr-defined]


async def report_rows(client: httpx.AsyncClient, token: str, **fields: Any) -> list[dict[str, str]]:
    body = {"billingStartDate": FIRST.isoformat(), "billingEndDate": LAST.isoformat(), **fields}
    created = await client.post(BASE, json=body, headers=bearer(token))
    assert created.status_code == 200, created.text
    report = await wait_report(client, created.json()["id"], token)
    assert report["status"] == "COMPLETED", report
    downloaded = await client.get(report["tempDownloadURL"])
    assert downloaded.status_code == 200
    # Deleted once read: the next report of the same dates and type is not a duplicate.
    gone = await client.delete(f"{BASE}/{report['id']}", headers=bearer(token))
    assert gone.status_code == 204
    return list(csv.DictReader(io.StringIO(downloaded.text)))


def org(partner: uuid.UUID) -> str:
    return ids.encode("ORGANIZATION", partner, ids.HUB)


async def test_report_totals_match_an_independent_count(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, worker: None
) -> None:
    sub = await make_tenant(db, "Reseller", parent=tenant.partner)
    token = await tenant.token(WRITE, SUB_WRITE, SUB_READ, CUSTOMERS_WRITE)
    sub_token = await sub.token(WRITE, SUB_WRITE, SUB_READ)
    p, s = tenant.partner.id, sub.partner.id
    a = await make_customer(db, tenant, packages=PACKAGES, hq=False, external_id="ext-a")
    b = await make_customer(db, tenant, packages=PACKAGES, hq=False, external_id="ext-b")
    c = await make_customer(db, sub, packages=["webex_meetings"], hq=False, external_id="ext-c")
    d = await make_customer(db, tenant, packages=["webex_meetings"], hq=False, external_id="ext-d")
    e = await make_customer(db, tenant, packages=["webex_meetings"], hq=False, external_id="ext-e")
    a1 = await add_subscriber(client, token, a, "a1@a.example", "webex_meetings")
    a2 = await add_subscriber(client, token, a, "a2@a.example", "webex_meetings")
    a3 = await add_subscriber(client, token, a, "a3@a.example", "cx_standard_agent")
    a4 = await add_subscriber(client, token, a, "a4@a.example", "webex_meetings")
    b1 = await add_subscriber(client, token, b, "b1@b.example", "webex_meetings")
    c1 = await add_subscriber(client, sub_token, c, "c1@c.example", "webex_meetings")
    d1 = await add_subscriber(client, token, d, "d1@d.example", "webex_meetings")

    # A package change, a subscriber deletion, a customer deletion (through the API).
    changed = await client.put(
        f"/v1/wholesale/subscribers/{ids.encode('SUBSCRIBER', a2, 'us')}",
        json={"packages": ["cx_standard_agent"]},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    for gone in (a3, a4):
        deleted = await client.delete(
            f"/v1/wholesale/subscribers/{ids.encode('SUBSCRIBER', gone, 'us')}",
            headers=bearer(token),
        )
        assert deleted.status_code == 204, deleted.text
    removed = await client.delete(f"/v1/wholesale/customers/{d.id}", headers=bearer(token))
    assert removed.status_code == 202, removed.text
    await wait_for(client, f"/v1/wholesale/customers/{d.id}", token, gone=True)
    e_removed = await client.delete(f"/v1/wholesale/customers/{e.id}", headers=bearer(token))
    assert e_removed.status_code == 202
    await wait_for(client, f"/v1/wholesale/customers/{e.id}", token, gone=True)

    # The triggers wrote exactly these intervals (running: end None).
    ca, cb, cc, cd, ce = (x.customer.id for x in (a, b, c, d, e))
    written = await ledger(db)
    shape = {k: [end is None for _, end, _ in v] for k, v in written.items()}
    expected_shape = {
        Key(p, ca, None, "webex_meetings"): [True],
        Key(p, ca, None, "cx_standard_agent"): [True],
        Key(p, cb, None, "webex_meetings"): [True],
        Key(p, cb, None, "cx_standard_agent"): [True],
        Key(s, cc, None, "webex_meetings"): [True],
        Key(p, cd, None, "webex_meetings"): [False],
        Key(p, ce, None, "webex_meetings"): [False],
        Key(p, ca, a1, "webex_meetings"): [True],
        Key(p, ca, a2, "webex_meetings"): [False],
        Key(p, ca, a2, "cx_standard_agent"): [True],
        Key(p, ca, a3, "cx_standard_agent"): [False],
        Key(p, ca, a4, "webex_meetings"): [False],
        Key(p, cb, b1, "webex_meetings"): [True],
        Key(s, cc, c1, "webex_meetings"): [True],
        Key(p, cd, d1, "webex_meetings"): [False],
    }
    assert shape == expected_shape
    assert written[Key(p, ca, a1, "webex_meetings")][0][2] == "a1@a.example"

    # The month as the test records it.
    record: dict[Key, tuple[datetime, datetime | None]] = {
        Key(p, ca, None, "webex_meetings"): (at(-10), OPEN),
        Key(p, ca, None, "cx_standard_agent"): (at(-10), OPEN),
        Key(p, cb, None, "webex_meetings"): (at(9, 10), OPEN),  # added on the 10th
        Key(p, cb, None, "cx_standard_agent"): (at(9, 10), OPEN),
        Key(s, cc, None, "webex_meetings"): (at(0), OPEN),
        Key(p, cd, None, "webex_meetings"): (at(-20), at(4, 6)),  # deleted on the 5th
        Key(p, ce, None, "webex_meetings"): (at(-40), at(-1, 5)),  # gone before the month
        Key(p, ca, a1, "webex_meetings"): (at(-5), OPEN),
        Key(p, ca, a2, "webex_meetings"): (at(2, 8), at(14, 12)),  # changed on the 15th
        Key(p, ca, a2, "cx_standard_agent"): (at(14, 12), OPEN),
        Key(p, ca, a3, "cx_standard_agent"): (at(-30), at(19, 9)),  # deleted on the 20th
        Key(p, ca, a4, "webex_meetings"): (at(6, 10), at(6, 15)),  # a few hours
        Key(p, cb, b1, "webex_meetings"): (at(20), OPEN),  # midnight of the 21st
        Key(s, cc, c1, "webex_meetings"): (at(3, 23, 59), OPEN),
        Key(p, cd, d1, "webex_meetings"): (at(-20), at(4, 6)),
    }
    for key, (start, end) in record.items():
        await set_times(db, key, start, end)
    days = {k: days_held(start, end, FIRST, LAST) for k, (start, end) in record.items()}
    held = {k: v for k, v in days.items() if v > 0}
    assert Key(p, ce, None, "webex_meetings") not in held
    assert Key(p, ca, a4, "webex_meetings") not in held
    region = "us"
    customers = {ca: a, cb: b, cc: c, cd: d}
    emails = {a1: "a1@a.example", a2: "a2@a.example", a3: "a3@a.example", b1: "b1@b.example"}
    emails |= {c1: "c1@c.example", d1: "d1@d.example"}
    subscription = {p: tenant.partner.subscription_id, s: sub.partner.subscription_id}

    # USER: one row per subject and package.
    rows = await report_rows(client, token, type="USER")
    got = {(r["customer_id"], r["subscriber_id"], r["package"], r["assigned_to"]): r for r in rows}
    want = {}
    for k, n in held.items():
        cust = customers[k.customer]
        sub_ref = ids.encode("SUBSCRIBER", k.subscriber, region) if k.subscriber else ""
        want[(cust.id, sub_ref, k.package, "SUBSCRIBER" if k.subscriber else "CUSTOMER")] = n
    assert {key: int(r["usage_days"]) for key, r in got.items()} == want
    for r in rows:
        assert r["report_version"] == "1" and r["partner_org_id"] == org(p)
        assert r["billing_start_date"] == FIRST.isoformat()
        assert r["billing_end_date"] == LAST.isoformat()
        assert r["quantity"] == "1"
        owner = s if r["customer_id"] == c.id else p
        assert r["sub_partner_org_id"] == (org(s) if owner == s else "")
        assert r["subscription_id"] == subscription[owner]
        cust = next(x for x in customers.values() if x.id == r["customer_id"])
        assert r["customer_org_id"] == cust.org
        assert r["customer_external_id"] == cust.customer.external_id
        if r["subscriber_id"]:
            sid = ids.decode("SUBSCRIBER", r["subscriber_id"])
            assert sid is not None and r["subscriber_email"] == emails[sid]
    user_total = sum(int(r["usage_days"]) for r in rows)
    assert user_total == sum(held.values())

    # CUSTOMER: per customer, package and assignment; quantity = subjects.
    rows = await report_rows(client, token, type="CUSTOMER")
    want_c: dict[tuple[str, str, str], tuple[int, int]] = {}
    for k, n in held.items():
        key = (customers[k.customer].id, k.package, "SUBSCRIBER" if k.subscriber else "CUSTOMER")
        qty, total = want_c.get(key, (0, 0))
        want_c[key] = (qty + 1, total + n)
    got_c = {
        (r["customer_id"], r["package"], r["assigned_to"]): (
            int(r["quantity"]),
            int(r["usage_days"]),
        )
        for r in rows
    }
    assert got_c == want_c
    assert all(r["subscriber_id"] == "" and r["subscriber_email"] == "" for r in rows)

    # PARTNER: per sub-partner, subscription, package and assignment.
    rows = await report_rows(client, token, type="PARTNER")
    want_p: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for k, n in held.items():
        key = (
            org(k.partner) if k.partner == s else "",
            subscription[k.partner] or "",
            k.package,
            "SUBSCRIBER" if k.subscriber else "CUSTOMER",
        )
        qty, total = want_p.get(key, (0, 0))
        want_p[key] = (qty + 1, total + n)
    got_p = {
        (r["sub_partner_org_id"], r["subscription_id"], r["package"], r["assigned_to"]): (
            int(r["quantity"]),
            int(r["usage_days"]),
        )
        for r in rows
    }
    assert got_p == want_p
    assert all(r["customer_id"] == "" for r in rows)
    assert sum(v for _, v in got_p.values()) == user_total

    # The sub-partner's customers alone: asked by the parent, and by the sub-partner itself.
    for asker, fields in ((token, {"subPartnerOrgId": org(s)}), (sub_token, {})):
        rows = await report_rows(client, asker, type="USER", **fields)
        assert {r["customer_id"] for r in rows} == {c.id}
        assert {int(r["usage_days"]) for r in rows if r["subscriber_id"]} == {
            held[Key(s, cc, c1, "webex_meetings")]
        }
        if asker == sub_token:
            assert all(
                r["partner_org_id"] == org(s) and r["sub_partner_org_id"] == "" for r in rows
            )
        else:
            assert all(r["sub_partner_org_id"] == org(s) for r in rows)

    # POINT_IN_TIME: what is held at the end of the end date, one day each.
    rows = await report_rows(client, token, type="USER", category="POINT_IN_TIME")
    at_end = {k for k, (start, end) in record.items() if days_held(start, end, LAST, LAST) == 1}
    assert len(rows) == len(at_end)
    assert all(int(r["usage_days"]) == 1 for r in rows)

    # Another partner's report sees none of it.
    stranger = await make_tenant(db, "Stranger")
    stranger_rows = await report_rows(client, await stranger.token(WRITE, READ), type="USER")
    assert stranger_rows == []
    await asyncio.sleep(0)


async def test_a_package_held_twice_in_the_month_counts_its_subscriber_once(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, worker: None
) -> None:
    """A subscriber who leaves a package and takes it back within the month holds it in two
    intervals: its days add up, but it is one subscriber in ``quantity`` (CUSTOMER and PARTNER
    reports count per customer without a group per subscriber, so this is checked apart)."""
    token = await tenant.token(WRITE, SUB_WRITE, SUB_READ)
    p = tenant.partner.id
    a = await make_customer(db, tenant, packages=PACKAGES, hq=False, external_id="ext-r")
    r1 = await add_subscriber(client, token, a, "r1@r.example", "webex_meetings")
    r2 = await add_subscriber(client, token, a, "r2@r.example", "webex_meetings")
    r3 = await add_subscriber(client, token, a, "r3@r.example", "webex_meetings")
    for package in ("cx_standard_agent", "webex_meetings"):  # r1 and r3: there and back
        for who in (r1, r3):
            changed = await client.put(
                f"/v1/wholesale/subscribers/{ids.encode('SUBSCRIBER', who, 'us')}",
                json={"packages": [package]},
                headers=bearer(token),
            )
            assert changed.status_code == 200, changed.text
    ca = a.customer.id
    # The test's record: each subject's intervals, in order.
    record: dict[Key, list[tuple[datetime, datetime | None]]] = {
        Key(p, ca, None, "webex_meetings"): [(at(-10), OPEN)],
        Key(p, ca, None, "cx_standard_agent"): [(at(-10), OPEN)],
        Key(p, ca, r1, "webex_meetings"): [(at(-5), at(4, 12)), (at(9, 8), OPEN)],
        Key(p, ca, r1, "cx_standard_agent"): [(at(4, 12), at(9, 8))],
        Key(p, ca, r2, "webex_meetings"): [(at(12), at(20, 3))],
        # r3: away for a few hours within one day (that day stays on webex_meetings).
        Key(p, ca, r3, "webex_meetings"): [(at(-5), at(6, 9)), (at(6, 15), OPEN)],
        Key(p, ca, r3, "cx_standard_agent"): [(at(6, 9), at(6, 15))],
    }
    async with db.transaction() as session:
        for key, spans in record.items():
            rows = await session.execute(
                text(
                    "SELECT valid_from FROM usage_ledger WHERE customer_id = :c"
                    " AND subscriber_id IS NOT DISTINCT FROM :s AND package = :p"
                    " ORDER BY valid_from"
                ),
                {"c": key.customer, "s": key.subscriber, "p": key.package},
            )
            written = [row[0] for row in rows]
            assert len(written) == len(spans), key
            for old, (start, end) in zip(written, spans, strict=True):
                await session.execute(
                    text(
                        "UPDATE usage_ledger SET valid_from = :start,"
                        " valid_to = coalesce(:end, 'infinity'::timestamptz)"
                        " WHERE customer_id = :c AND subscriber_id IS NOT DISTINCT FROM :s"
                        " AND package = :p AND valid_from = :old"
                    ),
                    {
                        "start": start,
                        "end": end,
                        "old": old,
                        "c": key.customer,
                        "s": key.subscriber,
                        "p": key.package,
                    },
                )
    held = {
        k: sum(days_held(start, end, FIRST, LAST) for start, end in spans)
        for k, spans in record.items()
    }
    held = {k: n for k, n in held.items() if n > 0}
    assert Key(p, ca, r3, "cx_standard_agent") not in held  # held only within one day
    want: dict[tuple[str, str], tuple[int, int]] = {}
    for k, n in held.items():
        group = (k.package, "SUBSCRIBER" if k.subscriber else "CUSTOMER")
        qty, total = want.get(group, (0, 0))
        want[group] = (qty + 1, total + n)
    assert want[("webex_meetings", "SUBSCRIBER")][0] == 3  # r1, r2, r3 once each

    users = await report_rows(client, token, type="USER")
    assert len(users) == len(held)  # one line per subject and package
    assert sum(int(r["usage_days"]) for r in users) == sum(held.values())
    for kind in ("CUSTOMER", "PARTNER"):
        rows = await report_rows(client, token, type=kind)
        got = {
            (r["package"], r["assigned_to"]): (int(r["quantity"]), int(r["usage_days"]))
            for r in rows
        }
        assert got == want, kind
