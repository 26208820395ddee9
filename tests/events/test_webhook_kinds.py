"""Issue 13's acceptance, "events arrive for every resource and event kind": one webhook per
hub resource (event ``all``) aimed at a real HTTP receiver, every kind each resource
produces driven through the public API, then per resource the exact sequence of kinds, each
once and signed, ``data`` as the resource's GET shows it, and nothing for another partner's
webhooks on the same resources.

``data`` is compared with a GET made right after the resource's last change, against the
event that change wrote: an ``updated`` (sub-partner, location, subscriber), a ``created``
(number), or, where the worker moves the resource on by itself and a GET is stable only once
it is done, the final ``statusChanged`` (customer provisioned, report COMPLETED, import
succeeded). Fields a GET builds from other tables or its own request are named where they
are dropped (docs/events.md)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from standardwebhooks import Webhook as StandardWebhook

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.events.present import Owner, render
from partnerhub.events.service import WEBHOOK_RESOURCES
from tests.conftest import Tenant, bearer
from tests.events.receiver import Receiver
from tests.events.test_webhooks import SECRET, location_body, make_webhook, more_rounds, pump
from tests.factories import provisioned_org


def answer(response: httpx.Response, *codes: int) -> dict[str, Any]:
    assert response.status_code in codes, (response.request.url, response.text)
    return response.json() if response.content else {}


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


async def test_every_resource_and_event_kind_arrives_at_a_real_receiver(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
    worker: None,
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    auth = bearer(token)
    stranger = await other_tenant.token(*ALL_SCOPES)
    hooks = {
        (await make_webhook(client, token, receiver.url, resource=r))["id"]: r
        for r in WEBHOOK_RESOURCES
    }
    spies = {
        (await make_webhook(client, stranger, receiver.url, resource=r))["id"]
        for r in WEBHOOK_RESOURCES
    }
    # resource -> (the index of its latest event at that moment, what its GET returned)
    gets: dict[str, tuple[int, dict[str, Any]]] = {}

    async def get(url: str) -> dict[str, Any]:
        return answer(await client.get(url, headers=auth), 200)

    # subPartners: created, updated (renamed), statusChanged (suspended)
    sub_partner = answer(
        await client.post(
            "/v1/wholesale/subPartners",
            json={"name": "Kinds Reseller", "administrator": {"email": "boss@kindsub.example"}},
            headers=auth,
        ),
        201,
    )
    sub_partner_url = f"/v1/wholesale/subPartners/{sub_partner['orgId']}"
    answer(await client.put(sub_partner_url, json={"name": "Kinds Renamed"}, headers=auth), 200)
    gets["subPartners"] = (1, await get(sub_partner_url))
    answer(
        await client.put(sub_partner_url, json={"provisioningState": "suspended"}, headers=auth),
        200,
    )

    # billingReports: created, statusChanged (the worker builds it), deleted
    report = answer(
        await client.post(
            "/v1/wholesale/billing/reports",
            json={"billingStartDate": "2026-02-01", "billingEndDate": "2026-02-28"},
            headers=auth,
        ),
        200,
    )
    report_url = f"/v1/wholesale/billing/reports/{report['id']}"

    async def report_done() -> bool:
        return (await get(report_url))["status"] == "COMPLETED"

    await until(report_done)  # (the worker may finish it before a GET could see it running)
    shown = await get(report_url)
    # tempDownloadURL is a signed link that expires, made for the GET's own request
    assert shown.pop("tempDownloadURL").startswith("http")
    gets["billingReports"] = (1, shown)
    answer(await client.delete(report_url, headers=auth), 204)

    # wholesaleCustomers: created, then the worker's provisioning
    org = await provisioned_org(client, tenant, "Kindsco", "boss@kindsco.example")
    customer_url = f"/v1/wholesale/customers/{org.customer_id}"
    customer = await get(customer_url)
    answer(
        await client.put(
            customer_url,
            json={"packages": ["webex_meetings"], "externalId": "kinds-renamed"},
            headers=auth,
        ),
        202,
    )

    async def provisioned() -> bool:
        return (await get(customer_url))["status"] == "provisioned"

    await until(provisioned)
    gets["wholesaleCustomers"] = (5, await get(customer_url))

    # locations: created, updated, deleted; numbers: created, deleted
    org_id = customer["orgId"]
    location = answer(
        await client.post(
            f"/v1/locations?orgId={org_id}", json=location_body("Kinds"), headers=auth
        ),
        201,
    )
    location_url = f"/v1/locations/{location['id']}"
    answer(await client.put(location_url, json=location_body("Kinds renamed"), headers=auth), 200)
    shown = await get(location_url)
    # the GET's mainNumber is read from phone_numbers; the event has the location's row only
    del shown["mainNumber"]
    gets["locations"] = (1, shown)
    numbers_url = f"/v1/telephony/config/locations/{location['id']}/numbers"
    answer(
        await client.post(
            numbers_url,
            json={"phoneNumbers": ["+14155550123"], "numberType": "DID", "state": "ACTIVE"},
            headers=auth,
        ),
        201,
    )
    listed = await get(f"/v1/telephony/config/numbers?locationId={location['id']}")
    shown = next(n for n in listed["phoneNumbers"] if n["phoneNumber"] == "+14155550123")
    # the list names the number's location (from locations); the event has its id only
    shown["location"] = {"id": shown["location"]["id"]}
    gets["numbers"] = (0, shown)
    answer(
        await client.request(
            "DELETE", numbers_url, json={"phoneNumbers": ["+14155550123"]}, headers=auth
        ),
        204,
    )
    answer(await client.delete(location_url, headers=auth), 204)

    # wholesaleSubscribers: created, updated, deleted
    subscriber = answer(
        await client.post(
            "/v1/wholesale/subscribers",
            json={
                "customerId": org.customer_id,
                "email": "u1@kindsco.example",
                "packages": ["webex_meetings"],
            },
            headers=auth,
        ),
        200,
    )
    subscriber_url = f"/v1/wholesale/subscribers/{subscriber['id']}"
    answer(
        await client.put(
            subscriber_url,
            json={"packages": ["webex_meetings"], "provisioningParameters": {"firstName": "Ann"}},
            headers=auth,
        ),
        200,
    )
    gets["wholesaleSubscribers"] = (2, await get(subscriber_url))
    answer(await client.delete(subscriber_url, headers=auth), 204)

    # subscriberImports: created, then the worker's run
    started = answer(
        await client.post(
            f"/v1/partner/customers/{org.customer_id}/imports",
            json={"csv": "email,package\nbulk1@kindsco.example,webex_meetings\n"},
            headers=auth,
        ),
        202,
    )
    import_url = f"/v1/partner/customers/{org.customer_id}/imports/{started['id']}"

    async def imported() -> bool:
        return (await get(import_url))["status"] in ("succeeded", "failed")

    await until(imported)  # (as the report: the worker may start it before a GET)
    shown = await get(import_url)
    # resultUrl is built from the GET's own request URL: no event can carry it
    assert shown.pop("resultUrl").endswith("/result")
    gets["subscriberImports"] = (3, shown)

    # the customer deleted (its rows go with it)
    answer(await client.delete(customer_url, headers=auth), 202)

    async def gone() -> bool:
        return (await client.get(customer_url, headers=auth)).status_code == 404

    await until(gone)

    expected = {
        "subPartners": ["created", "updated", "statusChanged"],
        "billingReports": ["created", "statusChanged", "deleted"],
        # provisioning: created, two steps (the org, the package's details), provisioned; the
        # PUT: updating, provisioned; the DELETE: deleting, then the row deleted
        "wholesaleCustomers": ["created", "updated", "updated"]
        + ["statusChanged"] * 4
        + ["deleted"],
        "locations": ["created", "updated", "deleted"],
        "numbers": ["created", "deleted"],
        # the customer's administrator (made by provisioning); u1 made, changed, deleted;
        # bulk1 (the import); both remaining deleted with their customer
        "wholesaleSubscribers": ["created", "created", "updated", "deleted", "created"]
        + ["deleted"] * 2,
        # queued, running, its progress, succeeded; deleted with its customer
        "subscriberImports": ["created", "statusChanged", "updated", "statusChanged", "deleted"],
    }
    assert set(expected) == set(WEBHOOK_RESOURCES)
    total = sum(len(kinds) for kinds in expected.values())
    await pump(db, settings, lambda: len(receiver.ok()) >= total, seconds=30)
    await more_rounds(db, settings, 6)

    arrived = receiver.ok()
    # (1) per resource exactly the expected kinds, in order, each delivery once; nothing for
    # the other partner's webhooks on the same resources (4)
    bodies = [json.loads(r.body) for r in arrived]
    assert not [b for b in bodies if b["id"] in spies]
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for body in bodies:
        assert body["resource"] == hooks[body["id"]]
        got[body["resource"]].append(body)
    assert {r: [b["event"] for b in got[r]] for r in expected} == expected
    assert len(arrived) == total
    assert len({r.headers["webhook-id"] for r in arrived}) == total
    # (2) every body signed: X-Spark-Signature (HMAC-SHA1 of the raw body) and Standard
    # Webhooks
    verifier = StandardWebhook(SECRET.encode())
    signed = ("webhook-id", "webhook-timestamp", "webhook-signature")
    for r in arrived:
        assert r.headers["x-spark-signature"] == (
            hmac.new(SECRET.encode(), r.body, hashlib.sha1).hexdigest()
        )
        verifier.verify(r.body, {k: r.headers[k] for k in signed})
    # (3) data is the object the resource's GET returned at that moment
    for resource, (index, shown) in gets.items():
        data = got[resource][index]["data"]
        assert {k: data.get(k, "(absent)") for k in shown} == shown, resource


async def test_an_import_started_by_an_administrator_renders_without_its_email() -> None:
    """``subscriber_imports.created_by`` holds the starter's e-mail (the portal's imports):
    the event shows the import as its GET does, without it (it was once read as an id)."""
    row = uuid.uuid4()
    data = render(
        "subscriberImports",
        {
            "id": str(row),
            "customer_id": str(uuid.uuid4()),
            "partner_id": str(uuid.uuid4()),
            "created_by": "boss@kindsco.example",
            "status": "queued",
            "total": 1,
            "processed": 0,
            "created_count": 1,
            "existing_count": 0,
            "errors": [],
            "created": "2026-12-03T22:00:00+00:00",
            "finished": None,
        },
        Owner("US", "ext-1"),
    )
    assert "createdBy" not in data and data["status"] == "queued"
    assert data["created"] == "2026-12-03T22:00:00.000Z"
