"""The fast lane for ``POST /v1/wholesale/subscribers`` (kit/fastlane.py, subscribers/fast.py):
it answers the common valid request exactly as the route does, and hands everything else to the
route before writing anything, without counting the request twice against the rate limits."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.kit.fastlane import FastRequest
from partnerhub.models import OrgUser
from partnerhub.subscribers import fast
from tests.conftest import Tenant, assert_error, bearer
from tests.fast_lane import fast_request as request_for
from tests.subscribers.factories import (
    NUM_WRITE,
    SUB_READ,
    SUB_WRITE,
    Setup,
    add_numbers,
    make_customer,
    number,
)

URL = "/v1/wholesale/subscribers"


@pytest.fixture
async def token(tenant: Tenant) -> str:
    return await tenant.token(SUB_WRITE, SUB_READ, NUM_WRITE)


@pytest.fixture
async def stocked(client: httpx.AsyncClient, setup: Setup, token: str) -> Setup:
    await add_numbers(client, token, setup.hq_id, [f"{number(100)}..0109"])
    return setup


def calling(setup: Setup, i: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": setup.id,
        "email": f"user{i}@customer.example",
        "packages": ["webex_calling"],
        "provisioningParameters": {
            "firstName": "Ada",
            "lastName": f"User {i}",
            "primaryPhoneNumber": number(100 + i),
            "extension": f"52{i:02d}",
        },
    }
    body.update(overrides)
    return body


def fast_request(app: FastAPI, token: str, body: bytes, **headers: str) -> FastRequest:
    return request_for(app, "POST", URL, token, body, **headers)


async def users(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(OrgUser.id)))).scalar_one())


async def test_a_valid_post_is_answered_in_the_fast_lane_as_the_route_answers(
    app: FastAPI, client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    answered = await fast.provision_subscriber(
        fast_request(app, token, json.dumps(calling(stocked, 1)).encode())
    )
    assert answered is not None and answered.status == 200
    content = answered.content
    assert content["status"] == "provisioned" and content["primaryPhoneNumber"] == number(101)
    location = dict(answered.headers)[b"location"].decode()
    assert location == f"https://testserver{URL}/{content['id']}"
    # What the API reads back is what the fast lane answered.
    got = await client.get(location, headers=bearer(token))
    assert got.status_code == 200 and got.json() == content
    assert got.headers["Location"] == location
    # The route (forced by an Idempotency-Key) answers a twin request in the same shape.
    routed = await client.post(
        URL, json=calling(stocked, 2), headers={**bearer(token), "Idempotency-Key": "k-2"}
    )
    assert routed.status_code == 200, routed.text
    twin = routed.json()
    assert set(twin) == set(content)
    for key in ("status", "packages", "customerId", "externalCustomerId", "locationId", "roles"):
        assert twin[key] == content[key], key
    # Through the whole stack (middleware included) a plain POST gets the same answer too.
    plain = await client.post(URL, json=calling(stocked, 3), headers=bearer(token))
    assert plain.status_code == 200, plain.text
    assert plain.headers["Location"].endswith(plain.json()["id"])
    assert plain.headers["TrackingID"]
    assert await users(db) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"packages": ["no_such_package"]},  # a rule refuses (400)
        {"email": "not-an-email"},
        {"customerId": "not-a-customer"},
        {"packages": ["webex_calling"], "package": "webex_calling"},
        {"provisioningParameters": {"primaryPhoneNumber": "+14155550199"}},  # not in inventory
        {"provisioningParameters": {"extension": "5201", "locationId": "nope"}},
        {"unknownField": 1},  # the route's schema refuses
    ],
)
async def test_what_the_fast_lane_does_not_answer_falls_back_with_nothing_written(
    app: FastAPI, db: Database, stocked: Setup, token: str, change: dict[str, Any]
) -> None:
    body = calling(stocked, 1) | change
    answered = await fast.provision_subscriber(fast_request(app, token, json.dumps(body).encode()))
    assert answered is None
    assert await users(db) == 0


async def test_taken_number_extension_or_email_fall_back_and_the_route_names_the_conflict(
    app: FastAPI, client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    first = await client.post(URL, json=calling(stocked, 1), headers=bearer(token))
    assert first.status_code == 200, first.text
    clashes = [
        (calling(stocked, 2) | {"email": "user1@customer.example"}, 409, 10022),
        (
            calling(stocked, 2, provisioningParameters={"primaryPhoneNumber": number(101)}),
            400,
            1013,
        ),
        (calling(stocked, 2, provisioningParameters={"extension": "5201"}), 409, 1210),
    ]
    for body, status, code in clashes:
        answered = await fast.provision_subscriber(
            fast_request(app, token, json.dumps(body).encode())
        )
        assert answered is None
        assert_error(await client.post(URL, json=body, headers=bearer(token)), status, code)
    assert await users(db) == 1


async def test_limits_moves_and_idempotency_keys_go_to_the_route(
    app: FastAPI, db: Database, tenant: Tenant, token: str
) -> None:
    limited = await make_customer(db, tenant, limits={"webex_meetings": 5})
    body = {"customerId": limited.id, "email": "a@customer.example", "package": "webex_meetings"}
    assert (
        await fast.provision_subscriber(fast_request(app, token, json.dumps(body).encode())) is None
    )
    free = await make_customer(db, tenant)
    body["customerId"] = free.id
    keyed = fast_request(app, token, json.dumps(body).encode(), **{"idempotency-key": "k"})
    assert await fast.provision_subscriber(keyed) is None
    assert await users(db) == 0


async def test_a_fallback_is_counted_once_against_the_rate_limit(
    client: httpx.AsyncClient, settings: Settings, stocked: Setup, tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE)  # a token with no request counted yet
    settings.rate_limit_per_token = 3
    refused = calling(stocked, 1, packages=["no_such_package"])
    for _ in range(3):  # fast lane → route: each counted once
        assert_error(await client.post(URL, json=refused, headers=bearer(token)), 400, 1003)
    over = await client.post(URL, json=refused, headers=bearer(token))
    assert_error(over, 429, 1404)
    assert over.headers["Retry-After"]


async def test_a_bad_token_is_refused_by_the_route_counted_once(
    client: httpx.AsyncClient, settings: Settings, setup: Setup
) -> None:
    stocked = setup  # no API request made yet from this client address
    settings.rate_limit_per_address = 2
    for _ in range(2):
        assert_error(
            await client.post(URL, json=calling(stocked, 1), headers=bearer("ph_nope")), 401, 1500
        )
    assert_error(
        await client.post(URL, json=calling(stocked, 1), headers=bearer("ph_nope")), 429, 1404
    )
