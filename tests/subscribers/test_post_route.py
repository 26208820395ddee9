"""``POST /v1/wholesale/subscribers`` on its one path (api → service → repository): the answer
and its headers, every refusal with nothing written, lost races named by the rule they break,
the rare facts (a limited package, a headquarters to materialize, an Idempotency-Key), and
each request counted once against the rate limits."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from partnerhub import ids
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.models import Location, OrgUser
from tests.conftest import Tenant, assert_error, bearer
from tests.factories import (
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


async def users(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(OrgUser.id)))).scalar_one())


async def test_a_valid_post_answers_what_a_get_reads_back(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    answered = await client.post(URL, json=calling(stocked, 1), headers=bearer(token))
    assert answered.status_code == 200, answered.text
    content = answered.json()
    assert content["status"] == "provisioned" and content["primaryPhoneNumber"] == number(101)
    assert content["extension"] == "5201" and content["locationId"] == stocked.hq_id
    assert content["customerId"] == stocked.id
    assert content["externalCustomerId"] == stocked.customer.external_id
    location = answered.headers["Location"]
    assert location == f"https://testserver{URL}/{content['id']}"
    assert answered.headers["TrackingID"]
    got = await client.get(location, headers=bearer(token))
    assert got.status_code == 200 and got.json() == content
    assert got.headers["Location"] == location
    # The same request with an Idempotency-Key answers in the same shape, and its replay
    # gives the stored answer byte for byte.
    keyed = {**bearer(token), "Idempotency-Key": "k-2"}
    first = await client.post(URL, json=calling(stocked, 2), headers=keyed)
    assert first.status_code == 200, first.text
    twin = first.json()
    assert set(twin) == set(content)
    for key in ("status", "packages", "customerId", "externalCustomerId", "locationId", "roles"):
        assert twin[key] == content[key], key
    again = await client.post(URL, json=calling(stocked, 2), headers=keyed)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert await users(db) == 2


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"packages": ["no_such_package"]}, 400, 1003),
        ({"email": "not-an-email"}, 400, 1003),
        ({"customerId": "not-a-customer"}, 404, 1100),
        ({"packages": ["webex_calling"], "package": "webex_calling"}, 400, 1008),
        ({"provisioningParameters": {"primaryPhoneNumber": "+14155550199"}}, 400, 1013),
        ({"provisioningParameters": {"extension": "5201", "locationId": "nope"}}, 404, 1100),
        ({"unknownField": 1}, 400, 1003),
    ],
)
async def test_a_refused_post_writes_nothing(
    client: httpx.AsyncClient,
    db: Database,
    stocked: Setup,
    token: str,
    change: dict[str, Any],
    status: int,
    code: int,
) -> None:
    body = calling(stocked, 1) | change
    assert_error(await client.post(URL, json=body, headers=bearer(token)), status, code)
    assert await users(db) == 0


async def test_a_nul_character_is_a_400_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    """The INSERT is a plain driver statement: PostgreSQL's refusal of a NUL in a text (the
    driver's own DataError, not the ORM's) is the same 400, and nothing is written."""
    body = calling(stocked, 1)
    body["provisioningParameters"]["firstName"] = "A\x00da"
    response = await client.post(URL, json=body, headers=bearer(token))
    assert_error(response, 400, 1003)
    assert "NUL" in response.json()["message"]
    assert await users(db) == 0
    # With an Idempotency-Key (the same INSERT in the key's transaction): the same 400, and
    # neither the subscriber nor the key is kept: the key then serves a corrected request.
    keyed = {**bearer(token), "Idempotency-Key": "nul-1"}
    assert_error(await client.post(URL, json=body, headers=keyed), 400, 1003)
    assert await users(db) == 0
    fixed = await client.post(URL, json=calling(stocked, 1), headers=keyed)
    assert fixed.status_code == 200 and "Idempotency-Replayed" not in fixed.headers
    assert await users(db) == 1


async def test_taken_number_extension_or_email_are_named(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    first = await client.post(URL, json=calling(stocked, 1), headers=bearer(token))
    assert first.status_code == 200, first.text
    clashes = [
        (calling(stocked, 2) | {"email": "USER1@customer.example"}, 409, 10022),
        (
            calling(stocked, 2, provisioningParameters={"primaryPhoneNumber": number(101)}),
            400,
            1013,
        ),
        (calling(stocked, 2, provisioningParameters={"extension": "5201"}), 409, 1210),
    ]
    for body, status, code in clashes:
        assert_error(await client.post(URL, json=body, headers=bearer(token)), status, code)
    assert await users(db) == 1


async def test_a_lost_race_for_the_email_is_its_409(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    """Nine requests for one email at once: the facts of all of them say "free", the unique
    index decides, and every loser gets the email rule's answer (409 10022)."""

    async def one(i: int) -> httpx.Response:
        body = calling(stocked, i) | {"email": "same@customer.example"}
        return await client.post(URL, json=body, headers=bearer(token))

    responses = await asyncio.gather(*(one(i) for i in range(1, 10)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 8}, statuses
    for r in responses:
        if r.status_code == 409:
            assert_error(r, 409, 10022)
    assert await users(db) == 1


async def test_a_limited_package_holds_under_concurrency(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, token: str
) -> None:
    limited = await make_customer(db, tenant, limits={"webex_meetings": 3})

    async def one(i: int) -> httpx.Response:
        body = {"customerId": limited.id, "email": f"m{i}@c.example", "package": "webex_meetings"}
        return await client.post(URL, json=body, headers=bearer(token))

    responses = await asyncio.gather(*(one(i) for i in range(10)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 3, 400: 7}, statuses
    for r in responses:
        if r.status_code == 400:
            assert "3 of 3" in str(assert_error(r, 400, 1010)["message"])
    assert await users(db) == 3


async def test_a_recorded_headquarters_is_materialized_by_the_first_subscriber(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, token: str
) -> None:
    setup = await make_customer(db, tenant)
    async with db.transaction() as session:  # provisioning recorded it; nobody created it yet
        await session.execute(delete(Location).where(Location.customer_id == setup.customer.id))
    body = {
        "customerId": setup.id,
        "email": "first@c.example",
        "packages": ["webex_calling"],
        "provisioningParameters": {"extension": "4100"},
    }
    answered = await client.post(URL, json=body, headers=bearer(token))
    assert answered.status_code == 200, answered.text
    async with db.transaction() as session:
        hq = (
            await session.execute(
                select(Location).where(
                    Location.customer_id == setup.customer.id, Location.headquarters.is_(True)
                )
            )
        ).scalar_one()
    assert answered.json()["extension"] == "4100"
    region = ids.region_of(setup.customer.data_region)
    assert answered.json()["locationId"] == ids.encode("LOCATION", hq.id, region)
    assert hq.name == "Headquarters"


async def test_a_refused_post_is_counted_once_against_the_rate_limit(
    client: httpx.AsyncClient, settings: Settings, stocked: Setup, tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE)  # a token with no request counted yet
    settings.rate_limit_per_token = 3
    refused = calling(stocked, 1, packages=["no_such_package"])
    for _ in range(3):
        assert_error(await client.post(URL, json=refused, headers=bearer(token)), 400, 1003)
    over = await client.post(URL, json=refused, headers=bearer(token))
    assert_error(over, 429, 1404)
    assert over.headers["Retry-After"]


async def test_a_bad_token_is_counted_once_against_the_address(
    client: httpx.AsyncClient, settings: Settings, setup: Setup
) -> None:
    settings.rate_limit_per_address = 2  # no API request made yet from this client address
    for _ in range(2):
        assert_error(
            await client.post(URL, json=calling(setup, 1), headers=bearer("ph_nope")), 401, 1500
        )
    assert_error(
        await client.post(URL, json=calling(setup, 1), headers=bearer("ph_nope")), 429, 1404
    )
