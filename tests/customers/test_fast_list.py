"""The fast lane for ``GET /v1/wholesale/customers`` (kit/fastlane.py, customers/fast.py): it
answers the supported queries with the route's exact body and ``Link`` header, hands every
other query to the route before the bearer check, and shows a partner its own customers only."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from partnerhub import ids
from partnerhub.config import Settings
from partnerhub.customers import fast
from partnerhub.db import Database
from partnerhub.kit.fastlane import FastLane, FastRequest, FastResponse
from partnerhub.models import Customer
from tests.conftest import Tenant, assert_error, bearer
from tests.customers.helpers import BASE, READ, TEMPLATES_WRITE, meetings_body
from tests.fast_lane import fast_request as request_for

LINK = re.compile(r'^<([^>]+)>; rel="next"$')


def fast_request(app: FastAPI, token: str, query: str = "") -> FastRequest:
    return request_for(app, "GET", BASE, token, query=query.encode())


async def answer(app: FastAPI, token: str, query: str = "") -> FastResponse:
    answered = await fast.list_customers(fast_request(app, token, query))
    assert answered is not None, query
    assert answered.status == 200
    return answered


def link_of(answered: FastResponse) -> str | None:
    value = dict(answered.headers).get(b"link")
    return value.decode() if value is not None else None


def fast_lane(app: FastAPI) -> FastLane:
    layer: Any = app.middleware_stack
    while not isinstance(layer, FastLane):
        layer = layer.app
    return layer


async def create(client: httpx.AsyncClient, token: str, pid: str, n: int) -> str:
    response = await client.post(BASE, json=meetings_body(pid, n), headers=bearer(token))
    assert response.status_code == 202, response.text
    return str(response.headers["Location"]).rsplit("/", 1)[1]


async def change(db: Database, external_id: str, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Customer).where(Customer.external_id == external_id).values(**values)
        )


@pytest.fixture
async def seven(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> list[str]:
    """Seven customers in varied states (statuses, an organization, errors, no name)."""
    created = [await create(client, token, template["provisioningId"], n) for n in range(7)]
    await change(db, "ext-1", status="provisioned", org_id=uuid.UUID(int=42))
    await change(db, "ext-2", status="error", errors=[{"errorCode": 2561, "description": "Å"}])
    await change(
        db,
        "ext-3",
        status="provisioned_with_errors",
        name=None,
        resource_details={
            "packages": [
                {
                    "name": "webex_meetings",
                    "status": "error",
                    "warnings": [{"errorCode": 2560, "description": "retry"}],
                    "errors": [{"errorCode": 2561, "description": "failed"}, "junk"],
                }
            ]
        },
    )
    await change(db, "ext-4", status="provisioned")
    return created


QUERIES = [
    "",
    "max=3",
    "offset=2&max=3",
    "offset=6&max=3",
    "offset=99",
    "max=&offset=",
    "status=provisioned",
    "status=provisioned,error&max=1",
    "status=error&status=provisioning&max=2",
    "status=&max=2",
    "max=2&status=provisioned%2C+provisioned_with_errors",
    "externalId=ext-2",
    "externalId=nope",
    "externalId=ext-1&status=provisioned",
    f"orgId={ids.encode('ORGANIZATION', uuid.UUID(int=42), 'us')}",
]


async def test_supported_queries_are_answered_in_the_fast_lane_as_the_route_answers(
    app: FastAPI, client: httpx.AsyncClient, seven: list[str], token: str, read_token: str
) -> None:
    answers = {q: await answer(app, read_token, q) for q in QUERIES}
    assert [c["id"] for c in answers[""].content["items"]] == seven
    assert link_of(answers[""]) is None
    assert link_of(answers["max=3"]) == f'<https://testserver{BASE}?offset=3&max=3>; rel="next"'
    assert [c["id"] for c in answers["status=provisioned,error&max=1"].content["items"]] == [
        seven[1]
    ]
    assert link_of(answers["status=provisioned,error&max=1"]) == (
        f'<https://testserver{BASE}?status=provisioned%2Cerror&offset=1&max=1>; rel="next"'
    )
    # Through the whole stack the fast lane answers...
    through: dict[str, httpx.Response] = {}
    for q in QUERIES:
        through[q] = await client.get(f"{BASE}?{q}", headers=bearer(read_token))
        assert through[q].status_code == 200, through[q].text
        assert through[q].content == answers[q].encoded(), q
        assert through[q].headers.get("link") == link_of(answers[q]), q
    # ... and with no fast lane for this path the route answers the same bytes and headers.
    lane = fast_lane(app)
    del lane.routes[("GET", fast.PATH)]
    try:
        for q in QUERIES:
            routed = await client.get(f"{BASE}?{q}", headers=bearer(read_token))
            assert routed.status_code == 200, routed.text
            assert routed.content == answers[q].encoded(), q
            assert routed.headers.get("link") == link_of(answers[q]), q
            skip = {"trackingid", "content-length"}
            assert {k: v for k, v in routed.headers.items() if k not in skip} == {
                k: v for k, v in through[q].headers.items() if k not in skip
            }, q
    finally:
        lane.routes[("GET", fast.PATH)] = fast.list_customers


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("onBehalfOfSubPartnerOrgId=garbage", 404, None),
        ("includePackageLicenseInfo=true", 200, None),
        ("unknown=1", 200, None),
        ("max=10&max=20", 200, None),
        ("externalId=ext-1&externalId=ext-2", 200, None),
        ("offset=1&offset=2", 200, None),
        ("max=101", 400, 1003),
        ("max=0", 400, 1003),
        ("max=ten", 400, 1003),
        ("offset=-1", 400, 1003),
        ("offset=99999999999", 400, 1003),
        ("status=provisioned,sleeping", 400, 1003),
        ("orgId=garbage", 400, 1003),
    ],
)
async def test_other_parameters_and_invalid_values_fall_back_before_the_bearer_check(
    app: FastAPI,
    client: httpx.AsyncClient,
    seven: list[str],
    read_token: str,
    query: str,
    status: int,
    code: int | None,
) -> None:
    request = fast_request(app, read_token, query)
    assert await fast.list_customers(request) is None
    assert "authenticated" not in request.state  # the route checks the bearer, once
    routed = await client.get(f"{BASE}?{query}", headers=bearer(read_token))
    if code is not None:
        assert_error(routed, status, code)
    else:
        assert routed.status_code == status, routed.text


async def test_refusals_after_the_bearer_check_fall_back_and_are_counted_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, seven: list[str], tenant: Tenant
) -> None:
    no_scope = await tenant.token(TEMPLATES_WRITE)  # no request counted yet
    request = fast_request(app, no_scope, "max=2")
    assert await fast.list_customers(request) is None
    assert request.state["authenticated"].partner_id == tenant.partner.id  # kept for the route
    settings.rate_limit_per_token = 3
    fresh = await tenant.token(TEMPLATES_WRITE)
    for _ in range(3):  # fast lane → route: each counted once
        assert_error(await client.get(f"{BASE}?max=2", headers=bearer(fresh)), 403, 1300)
    assert_error(await client.get(f"{BASE}?max=2", headers=bearer(fresh)), 429, 1404)
    refused = fast_request(app, "ph_nope")
    assert await fast.list_customers(refused) is None
    assert_error(await client.get(BASE, headers=bearer("ph_nope")), 401, 1500)


async def test_another_partner_sees_none_of_these_customers(
    app: FastAPI, client: httpx.AsyncClient, seven: list[str], other_tenant: Tenant
) -> None:
    other = await other_tenant.token(READ)
    for q in ("", "max=1", "status=provisioned", "externalId=ext-1", QUERIES[-1]):
        answered = await answer(app, other, q)
        assert answered.content == {"items": []}, q
        assert link_of(answered) is None
        through = await client.get(f"{BASE}?{q}", headers=bearer(other))
        assert through.status_code == 200 and through.json() == {"items": []}


async def test_walk_250_customers_with_max_100_in_the_fast_lane(
    app: FastAPI, client: httpx.AsyncClient, template: dict[str, Any], token: str
) -> None:
    created = [await create(client, token, template["provisioningId"], n) for n in range(250)]
    seen: list[str] = []
    query: str | None = "max=100&status=provisioning"
    pages = 0
    while query is not None:
        answered = await answer(app, token, query)
        seen += [c["id"] for c in answered.content["items"]]
        pages += 1
        link = link_of(answered)
        if link is None:
            query = None
            continue
        match = LINK.match(link)
        assert match, link
        parts = urlsplit(match.group(1))
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "testserver", BASE)
        assert parts.query == f"status=provisioning&offset={len(seen)}&max=100"
        query = parts.query
    assert pages == 3
    assert seen == created  # every customer once, in creation order
