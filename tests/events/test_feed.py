"""The event stream (written by triggers in the change's transaction) and its pull feed."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from partnerhub.errors import InvalidValue
from partnerhub.events import service
from partnerhub.identity import keys
from tests.conftest import Tenant, assert_error, bearer
from tests.factories import provisioned_org


async def feed(client: httpx.AsyncClient, token: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/events", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def cursors(db: Database) -> service.Cursors:
    """The installation's cursor codec (what the server reads its cursors with)."""
    async with db.transaction() as session:
        return service.Cursors(await keys.server_secret(session))


async def everything(client: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = ""
    while True:
        page = await feed(client, token, after=after, max=3, **params)
        items += page["items"]
        if not page["items"]:
            # nothing new: poll again from where you are
            assert page["next"] == after if after else page["next"]
            return items
        after = page["next"]


async def test_a_customer_and_its_subscriber_appear_in_commit_order_with_request_and_actor(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, worker: None
) -> None:
    org = await provisioned_org(client, tenant, "Feedco", "boss@feedco.example")
    added = await client.post(
        "/v1/wholesale/subscribers",
        json={
            "customerId": org.customer_id,
            "email": "u1@feedco.example",
            "packages": ["webex_meetings"],
        },
        headers={**bearer(org.token), "TrackingID": "track-sub-1"},
    )
    assert added.status_code == 200, added.text
    items = await everything(client, org.token)
    kinds = [(i["resource"], i["event"]) for i in items]
    assert ("templates", "created") in kinds
    assert ("wholesaleCustomers", "created") in kinds
    assert ("wholesaleCustomers", "statusChanged") in kinds
    subscriber = [
        i
        for i in items
        if i["resource"] == "wholesaleSubscribers" and i["data"]["email"] == "u1@feedco.example"
    ]
    assert subscriber[0]["event"] == "created"
    assert subscriber[0]["trackingId"] == "track-sub-1"
    # data is the object the GET returns (at that moment)
    got = await client.get(
        f"/v1/wholesale/subscribers/{added.json()['id']}", headers=bearer(org.token)
    )
    assert subscriber[0]["data"]["id"] == got.json()["id"]
    assert subscriber[0]["data"]["email"] == "u1@feedco.example"
    assert subscriber[0]["data"]["customerId"] == org.customer_id
    customer_events = [i for i in items if i["resource"] == "wholesaleCustomers"]
    assert customer_events[0]["data"]["id"] == org.customer_id
    assert customer_events[-1]["data"]["status"] == "provisioned"
    # cursors strictly increase (read with the server's key); the pages joined are the whole
    # feed
    codec = await cursors(db)
    read = [codec.parse(i["cursor"]) for i in items]
    assert read == sorted(read) and len(set(read)) == len(read)
    # filters
    only = await everything(client, org.token, resource="wholesaleSubscribers")
    assert [i["cursor"] for i in only] == [
        i["cursor"] for i in items if i["resource"] == "wholesaleSubscribers"
    ]
    mine = await everything(client, org.token, customerId=org.customer_id)
    assert {i["resource"] for i in mine} >= {"wholesaleCustomers", "wholesaleSubscribers"}
    # another partner sees none of it, not even with the customer's id
    stranger = await other_tenant.token(*ALL_SCOPES)
    theirs = (await feed(client, stranger))["items"]
    assert [(i["resource"], i["data"]["displayName"]) for i in theirs] == [
        ("administrators", "Globex admin")
    ]
    assert (await feed(client, stranger, customerId=org.customer_id))["items"] == []


async def test_the_feed_refuses_what_the_token_may_not_read_and_bad_cursors(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await tenant.token("partnerhub:locations_read")
    response = await client.get(
        "/v1/events", params={"resource": "wholesaleCustomers"}, headers=bearer(token)
    )
    assert_error(response, 403, 1300)
    response = await client.get("/v1/events", params={"after": "x"}, headers=bearer(token))
    assert_error(response, 400, 1003)
    response = await client.get("/v1/events", params={"max": "0"}, headers=bearer(token))
    assert response.status_code == 400
    assert (await client.get("/v1/events")).status_code == 401


OPAQUE = re.compile(r"[A-Za-z0-9_-]{22}")


async def test_cursors_and_ids_are_opaque_and_tell_nothing_of_other_partners(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    first = (await feed(client, token))["items"]
    for _ in range(5):  # another partner is busy in between
        await other_tenant.add_admin("read_only")
    await tenant.add_admin("read_only")
    page = await feed(client, token)
    items = page["items"]
    assert items[: len(first)] == first  # the same cursor and id at every read
    assert len(items) == len(first) + 1
    # each cursor is the event's commit position and number, sealed: only the server's key
    # reads them, and the numbers (which count every partner's events) are not on the wire
    codec = await cursors(db)
    async with db.transaction() as session:
        stored = (
            await session.execute(
                text(
                    "SELECT c.position, e.id FROM events e JOIN event_commits c USING (txid)"
                    " WHERE e.partner_id = :partner ORDER BY c.position, e.id"
                ),
                {"partner": tenant.partner.id},
            )
        ).all()
    assert [codec.parse(i["cursor"]) for i in items] == [tuple(r) for r in stored]
    for item in items:
        assert OPAQUE.fullmatch(item["cursor"]) and OPAQUE.fullmatch(item["id"])
        assert item["id"] != item["cursor"]
    assert len({i["id"] for i in items}) == len(items)
    stranger = service.Cursors(b"not this installation's secret")
    with pytest.raises(InvalidValue):
        stranger.parse(items[-1]["cursor"])
    # from the last cursor: nothing new, and the same cursor to poll with
    assert await feed(client, token, after=page["next"]) == {"items": [], "next": page["next"]}
    # a cursor altered, or one in clear numbers, is not one this feed gave
    last = items[-1]["cursor"]
    altered = last[:5] + ("A" if last[5] != "A" else "B") + last[6:]
    position, event_id = codec.parse(last)
    for bad in (altered, f"{position}.{event_id}", last[:-1], last + "A"):
        response = await client.get("/v1/events", params={"after": bad}, headers=bearer(token))
        assert_error(response, 400, 1003)


async def test_no_event_without_its_change_and_none_for_a_rolled_back_change(
    db: Database, tenant: Tenant
) -> None:
    async with db.transaction() as session:
        before = (await session.execute(text("SELECT count(*) FROM events"))).scalar_one()
    try:
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE partner_admins SET display_name = 'renamed' WHERE id = :id"),
                {"id": tenant.admin.id},
            )
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    async with db.transaction() as session:
        after = (await session.execute(text("SELECT count(*) FROM events"))).scalar_one()
        commits = (
            await session.execute(
                text(
                    "SELECT count(*) FROM events e LEFT JOIN event_commits c USING (txid) "
                    "WHERE c.position IS NULL"
                )
            )
        ).scalar_one()
    assert after == before
    assert commits == 0  # every event's transaction is numbered


async def test_sub_partners_billing_reports_imports_and_deletions_are_events(
    client: httpx.AsyncClient, tenant: Tenant, worker: None
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    sub = await client.post(
        "/v1/wholesale/subPartners",
        json={"name": "Feed Reseller", "administrator": {"email": "boss@feedsub.example"}},
        headers=bearer(token),
    )
    assert sub.status_code == 201, sub.text
    report = await client.post(
        "/v1/wholesale/billing/reports",
        json={"billingStartDate": "2026-02-01", "billingEndDate": "2026-02-28"},
        headers=bearer(token),
    )
    assert report.status_code == 200, report.text
    org = await provisioned_org(client, tenant, "Importco", "boss@importco.example")
    imported = await client.post(
        f"/v1/partner/customers/{org.customer_id}/imports",
        json={"csv": "email,package\nbulk1@importco.example,webex_meetings\n"},
        headers=bearer(token),
    )
    assert imported.status_code in (200, 201, 202), imported.text
    added = await client.post(
        "/v1/wholesale/subscribers",
        json={
            "customerId": org.customer_id,
            "email": "gone@importco.example",
            "packages": ["webex_meetings"],
        },
        headers=bearer(token),
    )
    assert added.status_code == 200, added.text
    removed = await client.delete(
        f"/v1/wholesale/subscribers/{added.json()['id']}", headers=bearer(token)
    )
    assert removed.status_code in (202, 204), removed.text

    async def kinds() -> set[tuple[str, str]]:
        return {(i["resource"], i["event"]) for i in await everything(client, token)}

    wanted = {
        ("subPartners", "created"),
        ("billingReports", "created"),
        ("billingReports", "statusChanged"),
        ("subscriberImports", "created"),
        ("subscriberImports", "statusChanged"),
        ("wholesaleSubscribers", "deleted"),
        ("administrators", "created"),
    }
    deadline = time.monotonic() + 60
    while not wanted <= (seen := await kinds()):
        assert time.monotonic() < deadline, wanted - seen
        await asyncio.sleep(0.3)
    items = await everything(client, token, resource="subPartners")
    assert items[0]["data"]["orgId"] == sub.json()["orgId"]
    assert items[0]["data"]["name"] == "Feed Reseller"
    reports = await everything(client, token, resource="billingReports")
    assert reports[0]["data"]["id"] == report.json()["id"]
    assert reports[-1]["data"]["status"] == "COMPLETED"
