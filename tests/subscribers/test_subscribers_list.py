"""Listing subscribers: every filter, both sort keys and orders, and Link pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.conftest import assert_error, bearer
from tests.factories import SUB_READ, SUB_WRITE, Setup, Tenant, make_customer

URL = "/v1/wholesale/subscribers"
BASE = datetime(2026, 1, 1, tzinfo=UTC)


async def populate(client: httpx.AsyncClient, db: Database, setup: Setup, n: int) -> list[dict]:
    """``n`` meetings subscribers created one hour apart; status changes in reverse order."""
    token = await setup.tenant.token(SUB_WRITE)
    subs = []
    for i in range(n):
        r = await client.post(
            URL,
            json={
                "customerId": setup.id,
                "email": f"user{i:03d}@c.example",
                "package": "webex_meetings",
            },
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text
        subs.append(r.json())
    async with db.transaction() as session:
        for i, sub in enumerate(subs):
            await session.execute(
                update(OrgUser)
                .where(OrgUser.id == ids.decode("SUBSCRIBER", sub["id"]))
                .values(
                    created=BASE + timedelta(hours=i),
                    last_status_change=BASE + timedelta(hours=2 * n - i),
                )
            )
    return subs


async def emails(client: httpx.AsyncClient, token: str, **params: object) -> list[str]:
    r = await client.get(URL, params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return [s["email"] for s in r.json()["items"]]


async def test_filters_and_sorting(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    subs = await populate(client, db, setup, 5)
    other = await make_customer(db, tenant, external_id="ext-other")
    w = await tenant.token(SUB_WRITE)
    await client.post(
        URL,
        json={"customerId": other.id, "email": "zed@c.example", "package": "webex_meetings"},
        headers=bearer(w),
    )
    token = await tenant.token(SUB_READ)
    all_five = [f"user{i:03d}@c.example" for i in range(5)]

    assert await emails(client, token, customerId=setup.id) == all_five
    assert await emails(client, token, customerId=other.id) == ["zed@c.example"]
    assert await emails(client, token, externalCustomerId="ext-other") == ["zed@c.example"]
    assert await emails(client, token, personId=subs[2]["personId"]) == [all_five[2]]
    assert await emails(client, token, email="USER003@c.example") == [all_five[3]]
    assert await emails(client, token, status="provisioned", customerId=setup.id) == all_five
    assert await emails(client, token, status="pending_user_migration") == []
    assert (
        await emails(
            client, token, status="provisioned,pending_user_migration", customerId=setup.id
        )
        == all_five
    )
    # after: ISO 8601 and epoch milliseconds
    after = BASE + timedelta(hours=2, minutes=30)
    iso = after.isoformat().replace("+00:00", "Z")
    epoch = str(int(after.timestamp() * 1000))
    assert await emails(client, token, customerId=setup.id, after=iso) == all_five[3:]
    assert await emails(client, token, customerId=setup.id, after=epoch) == all_five[3:]
    # lastStatusChange: user i changed at BASE + (10 - i) hours
    changed = str(int((BASE + timedelta(hours=7, minutes=30)).timestamp() * 1000))
    assert await emails(client, token, customerId=setup.id, lastStatusChange=changed) == [
        all_five[0],
        all_five[1],
        all_five[2],
    ]
    # sorting
    assert await emails(client, token, customerId=setup.id, sortOrder="DESC") == all_five[::-1]
    assert (
        await emails(client, token, customerId=setup.id, sortBy="lastStatusChange")
        == all_five[::-1]
    )
    assert (
        await emails(
            client, token, customerId=setup.id, sortBy="lastStatusChange", sortOrder="desc"
        )
        == all_five
    )
    # ids that are not ours (or not ids at all) simply match nothing
    assert await emails(client, token, customerId="bm9wZQ") == []
    assert await emails(client, token, personId=ids.encode("PEOPLE", uuid.uuid4(), "us")) == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"status": "active"}, "status"),
        ({"sortBy": "email"}, "sortBy"),
        ({"sortOrder": "UP"}, "sortOrder"),
        ({"after": "yesterday"}, "after"),
        ({"lastStatusChange": "2026-13-45"}, "lastStatusChange"),
        ({"max": "101"}, "max"),
        ({"max": "0"}, "max"),
        ({"offset": "-1"}, "offset"),
        ({"max": "ten"}, "max"),
    ],
)
async def test_bad_filters(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], needle: str
) -> None:
    token = await tenant.token(SUB_READ)
    body = assert_error(await client.get(URL, params=params, headers=bearer(token)), 400, 1003)
    assert needle in str(body["message"])


async def test_link_pagination(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    await populate(client, db, setup, 25)
    token = await tenant.token(SUB_READ)
    default = await client.get(URL, headers=bearer(token))
    assert len(default.json()["items"]) == 25 and "Link" not in default.headers

    seen: list[str] = []
    url: str | None = f"{URL}?customerId={setup.id}&sortOrder=DESC&max=10"
    pages = 0
    while url:
        page = await client.get(url, headers=bearer(token))
        assert page.status_code == 200
        pages += 1
        seen += [s["email"] for s in page.json()["items"]]
        link = page.headers.get("Link")
        if link:
            assert link.endswith('; rel="next"')
            url = link.split(";")[0].strip("<>")
            assert url.startswith("https://testserver/v1/wholesale/subscribers?")
            assert f"customerId={setup.id}" in url and "sortOrder=DESC" in url
        else:
            url = None
    assert pages == 3
    assert seen == [f"user{i:03d}@c.example" for i in range(24, -1, -1)]
