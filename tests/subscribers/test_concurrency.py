"""Assignments are safe under concurrency: the database, not luck, keeps one owner per number
and one user per extension in a location. 50 requests race in parallel on the ASGI app."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import func, select

from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.conftest import assert_error, bearer
from tests.factories import NUM_WRITE, SUB_WRITE, Setup, Tenant, add_numbers, number

URL = "/v1/wholesale/subscribers"
RACERS = 50


async def race(
    client: httpx.AsyncClient, token: str, setup: Setup, params: dict[str, str]
) -> list[httpx.Response]:
    async def one(i: int) -> httpx.Response:
        return await client.post(
            URL,
            json={
                "customerId": setup.id,
                "email": f"racer{i}@c.example",
                "packages": ["webex_calling"],
                "provisioningParameters": params,
            },
            headers=bearer(token),
        )

    return list(await asyncio.gather(*(one(i) for i in range(RACERS))))


async def owners(db: Database, **where: str) -> int:
    async with db.transaction() as session:
        stmt = select(func.count(OrgUser.id))
        for column, value in where.items():
            stmt = stmt.where(getattr(OrgUser, column) == value)
        return int((await session.execute(stmt)).scalar_one())


async def test_fifty_requests_for_one_number(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(SUB_WRITE, NUM_WRITE)
    await add_numbers(client, token, setup.hq_id, [number(100)])
    responses = await race(client, token, setup, {"primaryPhoneNumber": number(100)})
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 400: RACERS - 1}, statuses
    for r in responses:
        if r.status_code == 400:
            body = assert_error(r, 400, 1013)
            assert "already assigned" in str(body["message"])
    assert await owners(db, phone_number=number(100)) == 1
    assert await owners(db) == 1


async def test_fifty_requests_for_one_extension(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(SUB_WRITE)
    responses = await race(client, token, setup, {"extension": "4242"})
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: RACERS - 1}, statuses
    for r in responses:
        if r.status_code == 409:
            body = assert_error(r, 409, 1210)
            assert "4242" in str(body["message"]) or "extension" in str(body["message"])
    assert await owners(db, extension="4242") == 1
    assert await owners(db) == 1
