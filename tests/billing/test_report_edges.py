"""``POST /v1/wholesale/billing/reports`` at the edges schemathesis reaches (a CI run once saw
a 500 for a one-day report ending yesterday): every answer is 200, 4xx in the contract's
shape, or 409 for a duplicate, never a 5xx; a refused request leaves no row (report, audit
row, event, render job); concurrent identical requests make exactly one report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from partnerhub import ids
from partnerhub.billing import service
from partnerhub.db import Database
from tests.billing.conftest import BASE
from tests.conftest import Tenant, assert_error, bearer, make_tenant


def utc_today() -> date:
    return datetime.now(UTC).date()


async def rows(db: Database) -> dict[str, int]:
    """What a report request writes: the report, its audit row, its event, its render job."""
    async with db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM billing_reports),"
                    " (SELECT count(*) FROM audit_events WHERE action = 'billing.report_create'),"
                    " (SELECT count(*) FROM events WHERE resource = 'billingReports'),"
                    " (SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'billing.render')"
                )
            )
        ).one()
    return dict(zip(("reports", "audit", "events", "jobs"), row, strict=True))


def one_each(n: int) -> dict[str, int]:
    return {"reports": n, "audit": n, "events": n, "jobs": n}


async def post(client: httpx.AsyncClient, token: str, payload: Any) -> httpx.Response:
    response = await client.post(BASE, json=payload, headers=bearer(token))
    assert response.status_code < 500, response.text
    return response


def day(offset: int) -> str:
    return (utc_today() + timedelta(days=offset)).isoformat()


async def test_one_day_report_ending_yesterday_writes_its_rows_once(
    client: httpx.AsyncClient, token: str, db: Database
) -> None:
    yesterday = day(-1)
    created = (
        await post(client, token, {"billingStartDate": yesterday, "billingEndDate": yesterday})
    ).json()
    assert created["billingStartDate"] == created["billingEndDate"] == yesterday
    assert await rows(db) == one_each(1)
    again = await post(client, token, {"billingStartDate": yesterday, "billingEndDate": yesterday})
    assert_error(again, 409, service.DUPLICATE_CODE)
    assert await rows(db) == one_each(1)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (0, 0, "billingEndDate"),  # end today (UTC)
        (-1, 0, "billingEndDate"),
        (1, 1, "billingEndDate"),  # end tomorrow
        (0, 1, "billingEndDate"),
        (-1, -2, "billingStartDate"),  # start after end
        (0, -1, "billingStartDate"),
    ],
)
async def test_dates_around_today_are_refused_without_rows(
    client: httpx.AsyncClient, token: str, db: Database, start: int, end: int, field: str
) -> None:
    response = await post(
        client, token, {"billingStartDate": day(start), "billingEndDate": day(end)}
    )
    assert field in str(assert_error(response, 400, 1003)["message"])
    assert await rows(db) == one_each(0)


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("0001-01-01", "0001-01-01", 400),
        ("0001-01-01", None, 400),  # None: yesterday
        ("9999-12-31", "9999-12-31", 400),
        (None, "9999-12-31", 400),
        ("0000-01-01", None, 400),
        ("10000-01-01", None, 400),
        ("2026-02-29", None, 400),
        (" 1999-01-01 ", None, 400),
        ("\u0662\u0660\u0662\u0666-\u0661\u0661-\u0660\u0661", None, 400),  # Arabic digits
        ("2026-12-02\u0000", None, 400),
        ("x" * 100_000, None, 400),
    ],
)
async def test_far_and_odd_dates_are_refused_without_rows(
    client: httpx.AsyncClient,
    token: str,
    db: Database,
    start: str | None,
    end: str | None,
    status: int,
) -> None:
    payload = {"billingStartDate": start or day(-1), "billingEndDate": end or day(-1)}
    response = await post(client, token, payload)
    assert_error(response, status, 1003)
    assert await rows(db) == one_each(0)


async def test_the_oldest_start_allowed_is_five_years_back(
    client: httpx.AsyncClient, token: str, db: Database
) -> None:
    oldest = service.five_years_before(utc_today())
    too_old = oldest - timedelta(days=1)
    refused = await post(
        client, token, {"billingStartDate": too_old.isoformat(), "billingEndDate": day(-1)}
    )
    assert_error(refused, 400, 1003)
    await post(client, token, {"billingStartDate": oldest.isoformat(), "billingEndDate": day(-1)})
    assert await rows(db) == one_each(1)


@pytest.fixture
def far_zone() -> Iterator[None]:
    """The process's local time zone set far from UTC (the service must compare in UTC)."""
    import os

    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14: locally, often already tomorrow
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


async def test_today_is_the_utc_date_whatever_the_local_zone(
    client: httpx.AsyncClient, token: str, db: Database, far_zone: None
) -> None:
    assert datetime.now().astimezone().utcoffset() == timedelta(hours=14)
    assert service.today() == utc_today()
    assert_error(
        await post(client, token, {"billingStartDate": day(0), "billingEndDate": day(0)}), 400, 1003
    )
    await post(client, token, {"billingStartDate": day(-1), "billingEndDate": day(-1)})
    assert await rows(db) == one_each(1)


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({}, 200, None),
        ({"type": None, "category": None, "subPartnerOrgId": None, "internal": None}, 200, None),
        ({"internal": False}, 200, None),
        ({"type": " user "}, 200, None),
        ({"type": ""}, 400, 1003),
        ({"category": ""}, 400, 1003),
        ({"type": "PARTNER\u0000"}, 400, 1003),
        ({"type": "P" * 100_000}, 400, 1003),
        ({"subPartnerOrgId": ""}, 404, None),
        ({"subPartnerOrgId": " "}, 404, None),
        ({"subPartnerOrgId": "\u0000"}, 404, None),
        ({"subPartnerOrgId": "é" * 300}, 404, None),
        ({"subPartnerOrgId": "Y" * 100_000}, 404, None),
        ({"internal": "true"}, 400, 1003),
        ({"internal": 1}, 400, 1003),
        ({"extra": "x"}, 400, 1003),
    ],
)
async def test_optional_fields_absent_null_empty_or_long(
    client: httpx.AsyncClient,
    token: str,
    db: Database,
    extra: dict[str, Any],
    status: int,
    code: int | None,
) -> None:
    payload = {"billingStartDate": day(-1), "billingEndDate": day(-1), **extra}
    response = await post(client, token, payload)
    if status == 200:
        assert response.status_code == 200, response.text
        assert await rows(db) == one_each(1)
        return
    assert response.status_code == status, response.text
    if code is not None:
        assert_error(response, status, code)
    assert await rows(db) == one_each(0)


async def test_a_sub_partners_report_and_a_strangers_id(
    client: httpx.AsyncClient, tenant: Tenant, token: str, db: Database
) -> None:
    sub = await make_tenant(db, "Reseller", parent=tenant.partner)
    stranger = await make_tenant(db, "Stranger")
    payload = {"billingStartDate": day(-1), "billingEndDate": day(-1)}
    for org in (stranger.partner.id, tenant.partner.id):
        refused = await post(
            client, token, {**payload, "subPartnerOrgId": ids.encode("ORGANIZATION", org, ids.HUB)}
        )
        assert refused.status_code == 404, refused.text
    assert await rows(db) == one_each(0)
    sub_id = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    await post(client, token, {**payload, "subPartnerOrgId": sub_id})
    await post(client, token, payload)  # the partner's own report is another key
    assert_error(await post(client, token, {**payload, "subPartnerOrgId": sub_id}), 409, 1203)
    assert await rows(db) == one_each(2)


async def test_every_type_and_category_for_one_day(
    client: httpx.AsyncClient, token: str, db: Database
) -> None:
    payload = {"billingStartDate": day(-1), "billingEndDate": day(-1)}
    for kind in service.TYPES:
        for category in service.CATEGORIES:
            response = await post(client, token, {**payload, "type": kind, "category": category})
            expected = 200 if category == service.CATEGORIES[0] else 409
            assert response.status_code == expected, response.text
    assert await rows(db) == one_each(len(service.TYPES))


@pytest.mark.parametrize("kind", [None, "USER"])
async def test_concurrent_identical_posts_make_one_report(
    client: httpx.AsyncClient, token: str, db: Database, kind: str | None
) -> None:
    payload = {"billingStartDate": day(-1), "billingEndDate": day(-1)}
    if kind is not None:
        payload["type"] = kind
    responses = await asyncio.gather(*(post(client, token, payload) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, service.DUPLICATE_CODE)
    assert await rows(db) == one_each(1)


async def test_concurrent_posts_with_one_idempotency_key_make_one_report(
    client: httpx.AsyncClient, token: str, db: Database
) -> None:
    payload = {"billingStartDate": day(-1), "billingEndDate": day(-1)}
    headers = {**bearer(token), "Idempotency-Key": "edge-1"}
    responses = await asyncio.gather(
        *(client.post(BASE, json=payload, headers=headers) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await rows(db) == one_each(1)


async def test_concurrent_posts_of_many_tenants_and_periods(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Reports of different keys committed at once (the event stream's commit order lock)."""
    tenants = [await make_tenant(db, f"T{i}") for i in range(3)]
    tokens = [await t.token("spark-admin:wholesale_billing_reports_write") for t in tenants]
    calls = [
        post(client, tok, {"billingStartDate": day(-back), "billingEndDate": day(-back)})
        for tok in tokens
        for back in (1, 1, 2)
    ]
    responses = await asyncio.gather(*calls)
    assert sorted(r.status_code for r in responses) == [200] * 6 + [409] * 3
    assert await rows(db) == one_each(6)


# --- the CI run's 500: the test database's emptying raced a live server's worker -------------
# The live server (module-scoped) starts its worker, which defers its periodic jobs, before a
# test empties the database. The emptying found the job tables empty (or deleted their rows)
# while the worker inserted more, then restarted every sequence: the worker's rows kept ids the
# restarted sequences handed out again, and the next report's render job (deferred in the
# report's statement) failed on ``procrastinate_events_pkey``: a 500 from an IntegrityError.

_DEFER = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('billing', 'billing.render', 0,"
    " NULL, NULL, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1])"
)


async def test_emptying_waits_for_a_concurrent_writer_and_leaves_no_row(clean_db: str) -> None:
    import psycopg

    from tests.conftest import _clean

    with psycopg.connect(clean_db) as writer:  # a worker's transaction, not yet committed
        for _ in range(3):
            writer.execute(_DEFER)
        emptying = asyncio.create_task(asyncio.to_thread(_clean, clean_db))
        await asyncio.sleep(0.5)
        assert not emptying.done(), "the emptying did not wait for the writer's transaction"
        writer.commit()
        await asyncio.wait_for(emptying, 30)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM procrastinate_jobs),"
            " (SELECT count(*) FROM procrastinate_events)"
        ).fetchone()
        assert left == (0, 0)
        for _ in range(10):  # the restarted sequences collide with nothing
            conn.execute(_DEFER)


def test_a_servers_unhandled_error_is_shown_to_its_final_exception() -> None:
    from tests.conftest import unhandled_errors

    lib = '  File "/venv/lib/python3.11/site-packages/starlette/routing.py", line 1, in app\n'
    log = (
        "2026-12-03 22:20:59,871 ERROR partnerhub.http: unhandled error (tracking PH_1)\n"
        "Traceback (most recent call last):\n"
        + (lib + "    await app(scope)\n    ^^^^^^^^^^\n")
        * 400
        + "psycopg.errors.UniqueViolation: duplicate key value\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/work/src/partnerhub/billing/repository.py", line 122, in add\n'
        "    await self.session.execute(\n"
        + lib
        * 400
        + "sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) duplicate key\n"
        'INFO:     127.0.0.1:5 - "POST /v1/wholesale/billing/reports HTTP/1.1" 500\n'
    )
    shown = unhandled_errors(log)
    assert shown.startswith("unhandled error (tracking PH_1)")
    assert "psycopg.errors.UniqueViolation: duplicate key value" in shown
    assert 'billing/repository.py", line 122, in add' in shown
    assert shown.rstrip().endswith(
        "sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) duplicate key"
    )
    assert "site-packages" not in shown and "INFO:" not in shown
    assert unhandled_errors("nothing went wrong\n") == ""
