"""The fast lane for ``POST /v1/wholesale/customers`` (customers/fast_post.py): the common valid
request is answered there exactly as the route answers it (customer, event, idempotency key
and job written together), and everything else reaches the route with nothing written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from partnerhub.customers import fast as fast_post
from partnerhub.db import Database
from partnerhub.kit.fastlane import FastRequest
from partnerhub.models import Customer, CustomerEvent, IdempotencyKey
from tests.conftest import Tenant, assert_error, bearer
from tests.customers.helpers import BASE, customer_body, wait_for
from tests.fast_lane import fast_request as request_for


def fast_request(
    app: FastAPI, token: str, body: Any, query: bytes = b"", **headers: str
) -> FastRequest:
    return request_for(app, "POST", BASE, token, json.dumps(body).encode(), query, **headers)


async def counts(db: Database) -> tuple[int, int, int, int]:
    async with db.transaction() as session:
        customers = (await session.execute(select(func.count(Customer.id)))).scalar_one()
        events = (await session.execute(select(func.count(CustomerEvent.id)))).scalar_one()
        keys = (await session.execute(select(func.count(IdempotencyKey.id)))).scalar_one()
        jobs = (await session.execute(text("SELECT count(*) FROM procrastinate_jobs"))).scalar_one()
    return int(customers), int(events), int(keys), int(jobs)


async def test_a_valid_post_is_answered_in_the_fast_lane_and_provisioned(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    body = customer_body(template["provisioningId"], 1)
    answered = await fast_post.provision_customer(fast_request(app, token, body))
    assert answered is not None and answered.status == 202
    url = answered.content["url"]
    assert dict(answered.headers)[b"location"].decode() == url
    assert url.startswith(f"https://testserver{BASE}/")
    got = await wait_for(client, url, token)
    assert got["status"] == "provisioned", got
    assert got["externalId"] == body["externalId"]
    # Through the whole stack (middleware included) a twin request is answered alike.
    routed = await client.post(
        BASE, json=customer_body(template["provisioningId"], 2), headers=bearer(token)
    )
    assert routed.status_code == 202 and set(routed.json()) == {"url"}
    async with db.transaction() as session:
        events = (
            await session.execute(select(CustomerEvent.kind, CustomerEvent.status).limit(1))
        ).all()
    assert events and events[0] == ("status", "provisioning")


async def test_an_idempotency_key_is_recorded_and_replayed_by_the_route(
    app: FastAPI, client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    body = customer_body(template["provisioningId"], 1)
    answered = await fast_post.provision_customer(
        fast_request(app, token, body, **{"idempotency-key": "once"})
    )
    assert answered is not None and answered.status == 202
    assert await counts(db) == (1, 1, 1, 1)
    # The retry: the fast lane knows the key and hands over; the route replays byte for byte.
    again = fast_request(app, token, body, **{"idempotency-key": "once"})
    assert await fast_post.provision_customer(again) is None
    replay = await client.post(
        BASE, json=body, headers={**bearer(token), "Idempotency-Key": "once"}
    )
    assert replay.status_code == 202
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.content == answered.encoded()
    assert replay.headers["Location"] == answered.content["url"]
    other = customer_body(template["provisioningId"], 2)
    assert_error(
        await client.post(BASE, json=other, headers={**bearer(token), "Idempotency-Key": "once"}),
        422,
        1403,
    )
    assert await counts(db) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    "change",
    [
        {"provisioningId": "no-such-template"},  # 404
        {"packages": ["no_such_package"]},  # 400
        {"externalId": None},
        {"address": {"country": "ZZ"}},
        {"unknownField": True},  # the route's schema refuses
    ],
)
async def test_what_the_fast_lane_does_not_answer_falls_back_with_nothing_written(
    app: FastAPI, db: Database, template: dict[str, Any], token: str, change: dict[str, Any]
) -> None:
    body = {**customer_body(template["provisioningId"], 1), **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert await fast_post.provision_customer(fast_request(app, token, body)) is None
    assert await counts(db) == (0, 0, 0, 0)


async def test_a_taken_external_id_and_a_query_go_to_the_route(
    app: FastAPI, client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    body = customer_body(template["provisioningId"], 1)
    first = await client.post(BASE, json=body, headers=bearer(token))
    assert first.status_code == 202, first.text
    assert await fast_post.provision_customer(fast_request(app, token, body)) is None
    assert_error(await client.post(BASE, json=body, headers=bearer(token)), 409, 1200)
    behalf = fast_request(
        app, token, customer_body(template["provisioningId"], 2), b"onBehalfOfSubPartnerOrgId=x"
    )
    assert await fast_post.provision_customer(behalf) is None
    assert (await counts(db))[0] == 1


async def test_another_partners_template_is_not_found(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    template: dict[str, Any],
    other_tenant: Tenant,
) -> None:
    stranger = await other_tenant.token("spark-admin:wholesale_customers_write")
    body = customer_body(template["provisioningId"], 1)
    assert await fast_post.provision_customer(fast_request(app, stranger, body)) is None
    assert_error(await client.post(BASE, json=body, headers=bearer(stranger)), 404, 1100)
    assert await counts(db) == (0, 0, 0, 0)
