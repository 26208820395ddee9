"""Tenant isolation on every endpoint, and ``Idempotency-Key`` on the POST endpoints."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, update

from partnerhub.db import Database
from partnerhub.models import Customer, IdempotencyKey
from tests.conftest import assert_error, bearer
from tests.customers.helpers import BASE, WRITE
from tests.factories import Tenant, create_template, customer_body, meetings_body


async def test_another_partner_gets_404_everywhere(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    template: dict[str, Any],
    token: str,
) -> None:
    created = await client.post(
        BASE, json=customer_body(template["provisioningId"]), headers=bearer(token)
    )
    url = created.headers["Location"]
    theirs = await other_tenant.token(WRITE)
    assert_error(await client.get(url, headers=bearer(theirs)), 404, 1100)
    assert_error(
        await client.put(url, json={"packages": ["webex_meetings"]}, headers=bearer(theirs)),
        404,
        1100,
    )
    assert_error(await client.delete(url, headers=bearer(theirs)), 404, 1100)
    assert_error(await client.post(f"{url}/approve", headers=bearer(theirs)), 404, 1100)
    listed = await client.get(BASE, headers=bearer(theirs))
    assert listed.json()["items"] == []
    by_external = await client.get(f"{BASE}?externalId=ext-1", headers=bearer(theirs))
    assert by_external.json()["items"] == []
    # their precheck and POST cannot use our template
    assert_error(
        await client.post(
            f"{BASE}/validate",
            json=customer_body(template["provisioningId"], 9),
            headers=bearer(theirs),
        ),
        404,
        1100,
    )
    # and ours is untouched
    mine = await client.get(url, headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["status"] == "provisioning"


async def test_same_key_same_body_replays(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    body = meetings_body(template["provisioningId"])
    headers = {**bearer(token), "Idempotency-Key": "order-42"}
    first = await client.post(BASE, json=body, headers=headers)
    assert first.status_code == 202, first.text
    # same body, keys reordered and spaced differently: the same request
    second = await client.post(
        BASE,
        content=httpx.Request("POST", "/", json=dict(reversed(list(body.items())))).content,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotency-Replayed"] == "true"
    assert second.headers["TrackingID"] != first.headers["TrackingID"]
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(Customer.id)))).scalar_one() == 1


async def test_same_key_other_body_is_422(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    headers = {**bearer(token), "Idempotency-Key": "order-43"}
    first = await client.post(
        BASE, json=meetings_body(template["provisioningId"], 1), headers=headers
    )
    assert first.status_code == 202
    other = await client.post(
        BASE, json=meetings_body(template["provisioningId"], 2), headers=headers
    )
    error = assert_error(other, 422, 1403)
    assert "Idempotency-Key" in str(error["message"])
    # the same key on another POST endpoint is another request too
    assert_error(
        await client.post(
            f"{BASE}/validate", json=meetings_body(template["provisioningId"], 1), headers=headers
        ),
        422,
        1403,
    )
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(Customer.id)))).scalar_one() == 1


async def test_failed_requests_are_not_remembered_and_keys_expire(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    headers = {**bearer(token), "Idempotency-Key": "order-44"}
    bad = meetings_body(template["provisioningId"])
    bad["address"]["country"] = "XX"
    assert_error(await client.post(BASE, json=bad, headers=headers), 400, 1003)
    good = await client.post(BASE, json=meetings_body(template["provisioningId"]), headers=headers)
    assert good.status_code == 202, good.text
    # after 24 hours the key is forgotten: the same key runs again (and now conflicts)
    async with db.transaction() as session:
        await session.execute(
            update(IdempotencyKey).values(expires=func.now() - func.make_interval(0, 0, 0, 0, 1))
        )
    again = await client.post(BASE, json=meetings_body(template["provisioningId"]), headers=headers)
    assert_error(again, 409, 1200)


async def test_keys_belong_to_their_partner(
    client: httpx.AsyncClient, other_tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    headers = {**bearer(token), "Idempotency-Key": "shared-key"}
    mine = await client.post(BASE, json=meetings_body(template["provisioningId"]), headers=headers)
    assert mine.status_code == 202
    their_template = await create_template(client, other_tenant)
    theirs = await client.post(
        BASE,
        json=meetings_body(their_template["provisioningId"]),
        headers={**bearer(await other_tenant.token(WRITE)), "Idempotency-Key": "shared-key"},
    )
    assert theirs.status_code == 202
    assert "Idempotency-Replayed" not in theirs.headers
    assert theirs.headers["Location"] != mine.headers["Location"]


async def test_key_shape(client: httpx.AsyncClient, template: dict[str, Any], token: str) -> None:
    too_long = {**bearer(token), "Idempotency-Key": "k" * 256}
    assert_error(
        await client.post(BASE, json=meetings_body(template["provisioningId"]), headers=too_long),
        400,
        1003,
    )
