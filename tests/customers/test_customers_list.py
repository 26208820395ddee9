"""Listing customers: filters, status repeatable or comma-separated, and ``Link`` paging."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from partnerhub import ids
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.models import Customer
from tests.conftest import Tenant, assert_error, bearer
from tests.customers.helpers import BASE, READ, TEMPLATES_WRITE
from tests.factories import meetings_body

LINK = re.compile(r'^<([^>]+)>; rel="next"$')


async def _create(client: httpx.AsyncClient, token: str, pid: str, n: int) -> str:
    response = await client.post(BASE, json=meetings_body(pid, n), headers=bearer(token))
    assert response.status_code == 202, response.text
    return str(response.headers["Location"]).rsplit("/", 1)[1]


async def _set_status(db: Database, external_id: str, status: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Customer).where(Customer.external_id == external_id).values(status=status)
        )


async def test_walk_250_customers_with_max_100(
    client: httpx.AsyncClient, template: dict[str, Any], token: str
) -> None:
    created = [await _create(client, token, template["provisioningId"], n) for n in range(250)]
    seen: list[str] = []
    url: str | None = f"{BASE}?max=100&status=provisioning"
    pages = 0
    while url is not None:
        response = await client.get(url, headers=bearer(token))
        assert response.status_code == 200, response.text
        seen += [c["id"] for c in response.json()["items"]]
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            url = None
            continue
        match = LINK.match(link)
        assert match, link
        url = match.group(1)
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == "testserver"  # absolute
        query = parse_qs(parts.query)
        assert query["status"] == ["provisioning"]  # the filter is repeated
        assert query["max"] == ["100"]
        assert query["offset"] == [str(len(seen))]
    assert pages == 3
    assert seen == created  # every customer once, in creation order


async def test_default_page_is_100_and_limits(
    client: httpx.AsyncClient, template: dict[str, Any], token: str
) -> None:
    for n in range(101):
        await _create(client, token, template["provisioningId"], n)
    first = await client.get(BASE, headers=bearer(token))
    assert len(first.json()["items"]) == 100
    assert "offset=100" in first.headers["Link"]
    last = await client.get(f"{BASE}?offset=100", headers=bearer(token))
    assert len(last.json()["items"]) == 1
    assert "Link" not in last.headers
    assert_error(await client.get(f"{BASE}?max=101", headers=bearer(token)), 400, 1003)
    assert_error(await client.get(f"{BASE}?max=0", headers=bearer(token)), 400, 1003)
    assert_error(await client.get(f"{BASE}?offset=-1", headers=bearer(token)), 400, 1003)
    assert_error(await client.get(f"{BASE}?max=ten", headers=bearer(token)), 400, 1003)


async def test_filters(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    pid = template["provisioningId"]
    ids_ = [await _create(client, token, pid, n) for n in range(4)]
    await _set_status(db, "ext-1", "provisioned")
    await _set_status(db, "ext-2", "error")
    await _set_status(db, "ext-3", "provisioned_with_errors")

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{BASE}?{query}", headers=bearer(token))
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await listed("externalId=ext-2") == [ids_[2]]
    assert await listed("externalId=nope") == []
    assert await listed("status=provisioned") == [ids_[1]]
    assert await listed("status=provisioned&status=error") == [ids_[1], ids_[2]]
    assert await listed("status=provisioned,error") == [ids_[1], ids_[2]]
    assert await listed("status=provisioned, provisioned_with_errors&status=provisioning") == [
        ids_[0],
        ids_[1],
        ids_[3],
    ]
    error = assert_error(
        await client.get(f"{BASE}?status=provisioned,sleeping", headers=bearer(token)), 400, 1003
    )
    assert "sleeping" in str(error["message"])
    # orgId: the organization's opaque id
    async with db.transaction() as session:
        customer = (
            await session.execute(
                update(Customer)
                .where(Customer.external_id == "ext-3")
                .values(org_id=uuid.uuid4())
                .returning(Customer.org_id)
            )
        ).scalar_one()
    assert await listed(f"orgId={ids.encode('ORGANIZATION', customer, 'us')}") == [ids_[3]]
    # an id that is not ours names no organization: nothing listed (as an unknown id)
    assert await listed("orgId=garbage") == []


# --- the list query (repository._PAGE) against a plain reading of the same rows -----------
# (formerly asserted against the fast lane, tests/customers/test_fast_list.py)


async def _change(db: Database, external_id: str, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Customer).where(Customer.external_id == external_id).values(**values)
        )


@pytest.fixture
async def seven(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> list[str]:
    """Seven customers in varied states (statuses, an organization, errors, no name)."""
    created = [await _create(client, token, template["provisioningId"], n) for n in range(7)]
    await _change(db, "ext-1", status="provisioned", org_id=uuid.UUID(int=42))
    await _change(db, "ext-2", status="error", errors=[{"errorCode": 2561, "description": "Å"}])
    await _change(
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
    await _change(db, "ext-4", status="provisioned")
    return created


ORG_42 = ids.encode("ORGANIZATION", uuid.UUID(int=42), "us")
# query → (external ids of the page in order, whether a next page is linked)
QUERIES: dict[str, tuple[list[int], bool]] = {
    "": ([0, 1, 2, 3, 4, 5, 6], False),
    "max=3": ([0, 1, 2], True),
    "offset=2&max=3": ([2, 3, 4], True),
    "offset=6&max=3": ([6], False),
    "offset=99": ([], False),
    "status=provisioned": ([1, 4], False),
    "status=provisioned,error&max=1": ([1], True),
    "status=error&status=provisioning&max=2": ([0, 2], True),
    "status=&max=2": ([0, 1], True),
    "max=2&status=provisioned%2C+provisioned_with_errors": ([1, 3], True),
    "externalId=ext-2": ([2], False),
    "externalId=nope": ([], False),
    "externalId=ext-1&status=provisioned": ([1], False),
    f"orgId={ORG_42}": ([1], False),
}


async def test_every_filter_and_page_answers_the_expected_rows_as_get_shows_them(
    client: httpx.AsyncClient, seven: list[str], read_token: str
) -> None:
    singles = {}
    for cid in seven:
        one = await client.get(f"{BASE}/{cid}", headers=bearer(read_token))
        assert one.status_code == 200
        singles[cid] = one.json()
    for query, (expected, linked) in QUERIES.items():
        response = await client.get(f"{BASE}?{query}", headers=bearer(read_token))
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [c["id"] for c in items] == [seven[n] for n in expected], query
        assert items == [singles[c["id"]] for c in items], query  # one presenter
        assert ("link" in response.headers) == linked, query
    no_name = next(c for c in singles.values() if c["externalId"] == "ext-3")
    assert "name" not in no_name
    assert no_name["resourceDetails"]["packages"][0]["errors"] == [
        {"errorCode": 2561, "description": "failed"}
    ]
    page = await client.get(f"{BASE}?max=3", headers=bearer(read_token))
    assert page.headers["link"] == f'<https://testserver{BASE}?offset=3&max=3>; rel="next"'
    page = await client.get(f"{BASE}?status=provisioned,error&max=1", headers=bearer(read_token))
    assert page.headers["link"] == (
        f'<https://testserver{BASE}?status=provisioned%2Cerror&offset=1&max=1>; rel="next"'
    )


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("onBehalfOfSubPartnerOrgId=garbage", 404, 1100),
        ("includePackageLicenseInfo=true", 200, None),
        ("unknown=1", 200, None),
        ("max=10&max=20", 400, 1003),
        ("externalId=ext-1&externalId=ext-2", 400, 1003),
        ("offset=1&offset=2", 400, 1003),  # given twice (issue 11)
        ("max=101", 400, 1003),
        ("max=0", 400, 1003),
        ("max=ten", 400, 1003),
        ("max=", 400, 1003),  # given empty is not "absent" (issue 10, item 9)
        ("max=&offset=", 400, 1003),
        ("offset=-1", 400, 1003),
        ("offset=99999999999", 400, 1003),
        ("status=provisioned,sleeping", 400, 1003),
        ("orgId=garbage", 200, None),
        ("externalId=%00", 400, None),  # a value the database refuses
    ],
)
async def test_other_parameters_and_invalid_values(
    client: httpx.AsyncClient,
    seven: list[str],
    read_token: str,
    query: str,
    status: int,
    code: int | None,
) -> None:
    response = await client.get(f"{BASE}?{query}", headers=bearer(read_token))
    if code is not None:
        assert_error(response, status, code)
    else:
        assert response.status_code == status, response.text


async def test_refusals_are_counted_once_against_the_rate_limit(
    client: httpx.AsyncClient, settings: Settings, seven: list[str], tenant: Tenant
) -> None:
    settings.rate_limit_per_token = 3
    no_scope = await tenant.token(TEMPLATES_WRITE)
    for _ in range(3):
        assert_error(await client.get(f"{BASE}?max=2", headers=bearer(no_scope)), 403, 1300)
    assert_error(await client.get(f"{BASE}?max=2", headers=bearer(no_scope)), 429, 1404)
    assert_error(await client.get(BASE, headers=bearer("ph_nope")), 401, 1500)


async def test_another_partner_sees_none_of_these_customers(
    client: httpx.AsyncClient, seven: list[str], other_tenant: Tenant
) -> None:
    other = await other_tenant.token(READ)
    for query in ("", "max=1", "status=provisioned", "externalId=ext-1", f"orgId={ORG_42}"):
        response = await client.get(f"{BASE}?{query}", headers=bearer(other))
        assert response.status_code == 200 and response.json() == {"items": []}, query
        assert "link" not in response.headers
