"""Listing customers: filters, status repeatable or comma-separated, and ``Link`` paging."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import update

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import Customer
from tests.conftest import assert_error, bearer
from tests.customers.helpers import BASE
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
    assert_error(await client.get(f"{BASE}?orgId=garbage", headers=bearer(token)), 400, 1003)
