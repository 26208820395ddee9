"""Webhooks: the vendor's CRUD, delivered events signed (X-Spark-Signature, Standard
Webhooks), in order, retried with the same id, deactivation with a notice, isolation."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.events import delivery
from tests.conftest import Tenant, assert_error, bearer
from tests.events.receiver import Receiver
from tests.factories import make_customer, make_tenant

SECRET = "s3cr3t-of-the-receiver"


async def pump(db: Database, settings: Settings, until: Any, seconds: float = 20.0) -> None:
    """Run the delivery loop's rounds (dispatch, send) until ``until()`` holds."""
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "deliveries did not arrive in time"
        await delivery.dispatch(db)
        await delivery.send_due(db, settings)
        await asyncio.sleep(0.05)


async def more_rounds(db: Database, settings: Settings, rounds: int) -> None:
    """A few more rounds of the delivery loop after ``pump``: anything extra (a delivery that
    should not exist, a repeat) would arrive now."""
    for _ in range(rounds):
        await asyncio.sleep(0.1)
        await delivery.dispatch(db)
        await delivery.send_due(db, settings)


async def make_webhook(
    client: httpx.AsyncClient, token: str, url: str, **overrides: Any
) -> dict[str, Any]:
    body = {
        "name": "hook",
        "targetUrl": url,
        "resource": "locations",
        "event": "all",
        "secret": SECRET,
        **overrides,
    }
    response = await client.post("/v1/webhooks", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def customer_with_locations(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> tuple[str, str]:
    """A provisioned customer (written directly) and a token with every scope; returns
    (token, orgId)."""
    setup = await make_customer(db, tenant)
    return await tenant.token(*ALL_SCOPES), setup.org


def location_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "timeZone": "America/Los_Angeles",
        "preferredLanguage": "en_us",
        "announcementLanguage": "en_us",
        "address": {
            "address1": "771 Alder Drive",
            "city": "Milpitas",
            "state": "CA",
            "postalCode": "95035",
            "country": "US",
        },
    }


async def test_crud_follows_the_vendor_shape_and_refuses_bad_input(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    created = await make_webhook(client, token, receiver.url, filter="status=ACTIVE")
    assert {
        k: created[k]
        for k in ("name", "targetUrl", "resource", "event", "filter", "secret", "status", "ownedBy")
    } == {
        "name": "hook",
        "targetUrl": receiver.url,
        "resource": "locations",
        "event": "all",
        "filter": "status=ACTIVE",
        "secret": SECRET,
        "status": "active",
        "ownedBy": "creator",
    }
    assert created["created"].endswith("Z") and created["orgId"] and created["id"]
    url = f"/v1/webhooks/{created['id']}"
    assert (await client.get(url, headers=bearer(token))).json() == created
    listed = await client.get("/v1/webhooks", headers=bearer(token))
    assert listed.json()["items"] == [created]
    put = await client.put(
        url, json={"name": "renamed", "targetUrl": receiver.url}, headers=bearer(token)
    )
    assert put.status_code == 200 and put.json()["name"] == "renamed"
    assert_error(
        await client.put(
            url,
            json={"name": "x", "targetUrl": receiver.url, "status": "inactive"},
            headers=bearer(token),
        ),
        400,
        1003,
    )
    for bad in (
        {"resource": "nothing"},
        {"event": "exploded"},
        {"filter": "orgId=1"},
        {"filter": "customerId=not-an-id"},
        {"targetUrl": "ftp://example.com/x"},
        {"targetUrl": "http://user:pw@example.com/x"},
    ):
        response = await client.post(
            "/v1/webhooks",
            json={
                "name": "h",
                "targetUrl": receiver.url,
                "resource": "locations",
                "event": "all",
                **bad,
            },
            headers=bearer(token),
        )
        assert response.status_code == 400, (bad, response.text)
    missing = await client.post("/v1/webhooks", json={"name": "h"}, headers=bearer(token))
    assert missing.status_code == 400
    # creating one needs the read scope of its resource
    reader = await tenant.token("partnerhub:locations_read")
    assert_error(
        await client.post(
            "/v1/webhooks",
            json={
                "name": "h",
                "targetUrl": receiver.url,
                "resource": "wholesaleCustomers",
                "event": "all",
            },
            headers=bearer(reader),
        ),
        403,
        1300,
    )
    assert (await client.delete(url, headers=bearer(token))).status_code == 204
    assert_error(await client.get(url, headers=bearer(token)), 404, 1100)


async def test_private_targets_are_refused_unless_the_operator_allows_them(
    client: httpx.AsyncClient, tenant: Tenant, app: Any
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    app.state.settings.webhook_allow_private_addresses = False
    try:
        for url in (
            "http://127.0.0.1:9/x",
            "http://10.0.0.1/x",
            "http://[::1]/x",
            "http://localhost/x",
            "http://169.254.169.254/latest",
        ):
            response = await client.post(
                "/v1/webhooks",
                json={"name": "h", "targetUrl": url, "resource": "locations", "event": "all"},
                headers=bearer(token),
            )
            assert_error(response, 400, 1003)
    finally:
        app.state.settings.webhook_allow_private_addresses = True


async def test_every_event_kind_arrives_signed_in_order_once(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    token, org_id = await customer_with_locations(client, db, tenant)
    await make_webhook(client, token, receiver.url)
    await make_webhook(client, token, receiver.url, resource="numbers")
    made = []
    for i in range(3):
        response = await client.post(
            f"/v1/locations?orgId={org_id}", json=location_body(f"Site {i}"), headers=bearer(token)
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    update = await client.put(
        f"/v1/locations/{made[0]}", json=location_body("Site 0 renamed"), headers=bearer(token)
    )
    assert update.status_code == 200, update.text
    numbers_url = f"/v1/telephony/config/locations/{made[2]}/numbers"
    added = await client.post(
        numbers_url,
        json={"phoneNumbers": ["+14155550101"], "numberType": "DID", "state": "ACTIVE"},
        headers=bearer(token),
    )
    assert added.status_code == 201, added.text
    removed = await client.request(
        "DELETE", numbers_url, json={"phoneNumbers": ["+14155550101"]}, headers=bearer(token)
    )
    assert removed.status_code == 204, removed.text
    await pump(db, settings, lambda: len(receiver.ok()) >= 6)
    await asyncio.sleep(0.3)
    await delivery.dispatch(db)
    await delivery.send_due(db, settings)
    got = receiver.ok()
    bodies = [json.loads(r.body) for r in got]
    locations = [(b["event"], b["data"]["name"]) for b in bodies if b["resource"] == "locations"]
    assert locations == [
        ("created", "Site 0"),
        ("created", "Site 1"),
        ("created", "Site 2"),
        ("updated", "Site 0 renamed"),
    ]
    location_ids = [b["data"]["id"] for b in bodies if b["resource"] == "locations"]
    assert location_ids == [made[0], made[1], made[2], made[0]]
    numbers = [(b["event"], b["data"]["phoneNumber"]) for b in bodies if b["resource"] == "numbers"]
    assert numbers == [("created", "+14155550101"), ("deleted", "+14155550101")]
    assert len(got) == 6
    assert len({r.headers["webhook-id"] for r in got}) == 6  # exactly once each
    verifier = StandardWebhook(SECRET.encode())
    signed = ("webhook-id", "webhook-timestamp", "webhook-signature")
    for r in got:
        expected = hmac.new(SECRET.encode(), r.body, hashlib.sha1).hexdigest()
        assert r.headers["x-spark-signature"] == expected
        verifier.verify(r.body, {k: r.headers[k] for k in signed})
    # (the two webhooks drain concurrently: order holds per webhook, hence per resource)
    assert all(b["orgId"] and b["name"] == "hook" for b in bodies)
    with pytest.raises(WebhookVerificationError):  # a tampered body fails
        verifier.verify(got[0].body + b" ", {k: got[0].headers[k] for k in signed})


async def test_a_receiver_that_fails_five_times_then_recovers_gets_everything_once_more(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    token, org_id = await customer_with_locations(client, db, tenant)
    hook = await make_webhook(client, token, receiver.url, event="created")
    receiver.fail = 5
    for i in range(3):
        response = await client.post(
            f"/v1/locations?orgId={org_id}", json=location_body(f"Retry {i}"), headers=bearer(token)
        )
        assert response.status_code == 201, response.text
    await pump(db, settings, lambda: len(receiver.ok()) >= 3)
    ok = receiver.ok()
    assert [json.loads(r.body)["data"]["name"] for r in ok] == ["Retry 0", "Retry 1", "Retry 2"]
    failed = [r for r in receiver.received if r.status == 500]
    assert len(failed) == 5
    # every retry of the first event carried the same webhook-id as its success
    assert {r.headers["webhook-id"] for r in failed} == {ok[0].headers["webhook-id"]}
    assert len({r.headers["webhook-id"] for r in ok}) == 3
    # the attempt log: 8 attempts, status and latency each, newest first
    log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(token))
    items = log.json()["items"]
    assert len(items) == 8
    assert [i["statusCode"] for i in items[::-1]] == [500] * 5 + [200] * 3
    assert [i["attempt"] for i in items[::-1]] == [1, 2, 3, 4, 5, 6, 1, 1]
    assert items[-1]["responseExcerpt"] == "receiver broken"
    assert all(i["latencyMs"] >= 0 for i in items)
    # each attempt names its event by the feed's (opaque) cursor of that event
    feed = await client.get("/v1/events", params={"resource": "locations"}, headers=bearer(token))
    cursor = {
        e["data"]["name"]: e["cursor"] for e in feed.json()["items"] if e["event"] == "created"
    }
    assert [i["eventCursor"] for i in items[::-1]] == [cursor["Retry 0"]] * 6 + [
        cursor["Retry 1"],
        cursor["Retry 2"],
    ]
    status = await client.get(f"/v1/webhooks/{hook['id']}", headers=bearer(token))
    assert status.json()["status"] == "active"


async def test_a_receiver_that_never_answers_is_deactivated_the_partner_told_and_reactivated(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    settings.webhook_failure_limit = 3
    token, org_id = await customer_with_locations(client, db, tenant)
    hook = await make_webhook(client, token, receiver.url)
    receiver.hang = True
    response = await client.post(
        f"/v1/locations?orgId={org_id}", json=location_body("Silent"), headers=bearer(token)
    )
    assert response.status_code == 201

    def inactive() -> bool:
        return len(receiver.received) >= 3

    await pump(db, settings, inactive, seconds=30)
    await asyncio.sleep(0.2)
    got = await client.get(f"/v1/webhooks/{hook['id']}", headers=bearer(token))
    assert got.json()["status"] == "inactive"
    async with db.transaction() as session:
        mails = (
            await session.execute(
                text(
                    "SELECT to_address, subject, body_text FROM outbox_emails "
                    "WHERE kind = 'webhook_deactivated'"
                )
            )
        ).all()
    assert [m[0] for m in mails] == [tenant.admin.email]
    assert "hook" in mails[0][1] and receiver.url in mails[0][2]
    log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(token))
    assert [i["statusCode"] for i in log.json()["items"]] == [None, None, None]
    assert all("Deadline" in (i["error"] or "") or i["error"] for i in log.json()["items"])
    # nothing is sent while inactive; re-activated, the waiting event goes out
    before = len(receiver.received)
    await delivery.dispatch(db)
    await delivery.send_due(db, settings)
    assert len(receiver.received) == before
    receiver.hang = False
    again = await client.put(
        f"/v1/webhooks/{hook['id']}",
        json={"name": "hook", "targetUrl": receiver.url, "status": "active"},
        headers=bearer(token),
    )
    assert again.json()["status"] == "active"
    await pump(db, settings, lambda: len(receiver.ok()) >= 1)
    assert json.loads(receiver.ok()[0].body)["data"]["name"] == "Silent"


async def test_a_test_event_is_sent_and_logged(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    hook = await make_webhook(client, token, receiver.url)
    sent = await client.post(f"/v1/webhooks/{hook['id']}/test", headers=bearer(token))
    assert sent.status_code == 202
    await pump(db, settings, lambda: len(receiver.ok()) >= 1)
    body = json.loads(receiver.ok()[0].body)
    assert body["event"] == "test" and body["id"] == hook["id"]
    assert receiver.ok()[0].headers["webhook-id"] == sent.json()["deliveryId"]


async def test_another_partners_webhooks_and_events_stay_out_of_reach(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    token, org_id = await customer_with_locations(client, db, tenant)
    hook = await make_webhook(client, token, receiver.url)
    stranger = await other_tenant.token(*ALL_SCOPES)
    url = f"/v1/webhooks/{hook['id']}"
    assert_error(await client.get(url, headers=bearer(stranger)), 404, 1100)
    assert_error(
        await client.put(
            url, json={"name": "x", "targetUrl": receiver.url}, headers=bearer(stranger)
        ),
        404,
        1100,
    )
    assert_error(await client.delete(url, headers=bearer(stranger)), 404, 1100)
    assert_error(await client.get(f"{url}/deliveries", headers=bearer(stranger)), 404, 1100)
    assert_error(await client.post(f"{url}/test", headers=bearer(stranger)), 404, 1100)
    assert (await client.get("/v1/webhooks", headers=bearer(stranger))).json()["items"] == []
    # the stranger's webhook, with filters aimed at the partner's customer or sub-partner,
    # receives nothing of it
    sub = await make_tenant(db, "Subco", parent=tenant.partner)
    from partnerhub import ids

    sub_org = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    refused = await client.post(
        "/v1/webhooks",
        json={
            "name": "spy",
            "targetUrl": receiver.url,
            "resource": "locations",
            "event": "all",
            "filter": f"onBehalfOfSubPartnerOrgId={sub_org}",
        },
        headers=bearer(stranger),
    )
    assert_error(refused, 400, 1003)
    customers = await client.get("/v1/wholesale/customers", headers=bearer(token))
    customer_ref = customers.json()["items"][0]["id"]
    aimed = await client.post(
        "/v1/webhooks",
        json={
            "name": "spy",
            "targetUrl": receiver.url,
            "resource": "locations",
            "event": "all",
            "filter": f"customerId={customer_ref}",
        },
        headers=bearer(stranger),
    )
    assert_error(aimed, 400, 1003)
    spy = await make_webhook(client, stranger, receiver.url + "/spy")
    assert spy["status"] == "active"
    response = await client.post(
        f"/v1/locations?orgId={org_id}", json=location_body("Private"), headers=bearer(token)
    )
    assert response.status_code == 201
    await pump(db, settings, lambda: len(receiver.ok()) >= 1)
    await asyncio.sleep(0.3)
    await delivery.dispatch(db)
    await delivery.send_due(db, settings)
    assert [json.loads(r.body)["id"] for r in receiver.ok()] == [hook["id"]]


async def test_each_webhook_receives_what_its_event_and_filter_choose(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    """The dispatcher matches in SQL: resource, event, the partner (or, with
    ``onBehalfOfSubPartnerOrgId``, that sub-partner's events only), ``customerId`` and
    ``status`` (a number's ``state``)."""
    from partnerhub import ids

    a = await make_customer(db, tenant)
    b = await make_customer(db, tenant)
    sub = await make_tenant(db, "Subco", parent=tenant.partner)
    s = await make_customer(db, sub)
    token = await tenant.token(*ALL_SCOPES)
    sub_token = await sub.token(*ALL_SCOPES)
    sub_org = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    hooks = {
        "all": await make_webhook(client, token, receiver.url),
        "a": await make_webhook(client, token, receiver.url, filter=f"customerId={a.id}"),
        "sub": await make_webhook(
            client, token, receiver.url, filter=f"onBehalfOfSubPartnerOrgId={sub_org}"
        ),
        "created": await make_webhook(client, token, receiver.url, event="created"),
        "active": await make_webhook(
            client, token, receiver.url, resource="numbers", filter="status=ACTIVE"
        ),
    }
    names = {hook["id"]: key for key, hook in hooks.items()}

    async def located(org: str, name: str, who: str = token) -> str:
        made = await client.post(
            f"/v1/locations?orgId={org}", json=location_body(name), headers=bearer(who)
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    in_a = await located(a.org, "A1")
    await located(b.org, "B1")
    renamed = await client.put(
        f"/v1/locations/{in_a}", json=location_body("A1 renamed"), headers=bearer(token)
    )
    assert renamed.status_code == 200, renamed.text
    await located(s.org, "S1", sub_token)
    for number, state in (("+14155550111", "ACTIVE"), ("+14155550112", "INACTIVE")):
        added = await client.post(
            f"/v1/telephony/config/locations/{in_a}/numbers",
            json={"phoneNumbers": [number], "numberType": "DID", "state": state},
            headers=bearer(token),
        )
        assert added.status_code == 201, added.text
    await pump(db, settings, lambda: len(receiver.ok()) >= 9)
    await asyncio.sleep(0.3)
    await delivery.dispatch(db)
    await delivery.send_due(db, settings)
    got: dict[str, list[tuple[str, str]]] = {key: [] for key in hooks}
    for r in receiver.ok():
        body = json.loads(r.body)
        label = body["data"].get("name") or body["data"].get("phoneNumber")
        got[names[body["id"]]].append((body["event"], label))
    assert got == {
        "all": [("created", "A1"), ("created", "B1"), ("updated", "A1 renamed")],
        "a": [("created", "A1"), ("updated", "A1 renamed")],
        "sub": [("created", "S1")],
        "created": [("created", "A1"), ("created", "B1")],
        "active": [("created", "+14155550111")],
    }
