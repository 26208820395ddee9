"""Statement budget of the location POST (issue 13: the change the events benchmark drives),
counted at the driver (``tests/statements.py``: every psycopg cursor execute, from the ORM's
engine and from the autocommit pool alike, and every transaction: its BEGIN and COMMIT are
two more round trips). A change that adds a statement fails here; raise a budget only with a
reason written beside it.

Also here: what the cheap path must keep — the event row carries the actor and the request's
TrackingID although no ``BEGIN`` carries them, a race lost to a concurrent request is the
contract's 409, and a refused main number leaves nothing written.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from partnerhub.db import Database
from partnerhub.models import Location
from tests.conftest import assert_error, bearer
from tests.factories import LOC_WRITE, Setup, Tenant
from tests.locations.test_locations_api import location_body
from tests.statements import Sent, count_sent, counted

URL = "/v1/locations"

# POST /v1/locations (no mainNumber):
# 1. the bearer check with both rate-limit counters (autocommit pool, one statement),
# 2. every fact the rules read: the customer of the organization and whether the name is
#    taken (LocationRepository.new_location_facts),
# 3. the INSERT (its row trigger writes the event); each on its own on an autocommit
#    connection (no BEGIN/COMMIT: a single INSERT is atomic, the facts are only read).
# Before 2026-12-03 (evening): 6 statements in a transaction (the bearer check, the customer,
# the name count, the ORM's INSERT, the customer again and the main number for the answer).
POST_STATEMENTS = 3
POST_TRANSACTIONS = 0


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    return count_sent(monkeypatch)


async def events_of(db: Database, location_id: uuid.UUID) -> list[Any]:
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT event, actor_id, tracking_id FROM events WHERE resource_id = :id"),
            {"id": location_id},
        )
        return list(rows)


async def location_named(db: Database, name: str) -> list[uuid.UUID]:
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT id FROM locations WHERE lower(name) = :name"), {"name": name.lower()}
        )
        return [row[0] for row in rows]


async def test_post_budget_and_its_event_with_actor_and_tracking_id(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup, sent: Sent
) -> None:
    token = await tenant.token(LOC_WRITE)
    warm = await client.post(URL, json=location_body(setup), headers=bearer(token))
    assert warm.status_code == 201, warm.text
    headers = {**bearer(token), "TrackingID": "track-loc-1"}
    created = await counted(
        sent,
        lambda: client.post(URL, json=location_body(setup, name="Turin"), headers=headers),
        201,
    )
    assert len(sent.statements) == POST_STATEMENTS, sent.statements
    assert sent.transactions == POST_TRANSACTIONS
    assert sent.statements[-1].startswith("INSERT INTO locations"), sent.statements
    body = created.json()
    got = await client.get(f"{URL}/{body['id']}", headers=bearer(token))
    assert got.json() == body
    assert created.headers["Location"] == f"https://testserver{URL}/{body['id']}"
    (location_id,) = await location_named(db, "Turin")
    ((event, actor, tracking),) = await events_of(db, location_id)
    assert event == "created"
    assert actor  # the token's owner
    assert tracking == "track-loc-1"
    ((_, warm_actor, _),) = await events_of(db, (await location_named(db, "Milan office"))[0])
    assert warm_actor == actor


async def test_a_name_taken_by_a_concurrent_request_is_the_contracts_409(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    """The facts say the name is free, but another transaction holds it uncommitted: the
    INSERT waits for it, then the unique index refuses the row."""
    token = await tenant.token(LOC_WRITE)
    customer = setup.customer
    assert customer.org_id is not None
    async with db.transaction() as session:
        session.add(
            Location(
                id=uuid.uuid4(),
                partner_id=customer.partner_id,
                customer_id=customer.id,
                org_id=customer.org_id,
                name="Race",
                time_zone="Europe/Rome",
                preferred_language="it_IT",
                address1="Via Roma 1",
                city="Milano",
                country="IT",
            )
        )
        await session.flush()
        racing = asyncio.create_task(
            client.post(URL, json=location_body(setup, name="RACE"), headers=bearer(token))
        )
        for _ in range(100):  # until the request's INSERT waits for this transaction
            # (pg_locks is read live; pg_stat_activity would be this transaction's snapshot)
            waiting = await session.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar_one():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the request's INSERT never waited for the other transaction")
    lost = await racing
    assert_error(lost, 409, 1211)
    assert len(await location_named(db, "race")) == 1


async def test_a_refused_main_number_leaves_nothing_written(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    """With a mainNumber the INSERT runs in the transaction of the number: a new location has
    no number of its own yet, so the number is refused and the row is rolled back."""
    token = await tenant.token(LOC_WRITE)
    refused = await client.post(
        URL, json=location_body(setup, mainNumber="+390212345600"), headers=bearer(token)
    )
    assert_error(refused, 400, 1013)
    assert await location_named(db, "Milan office") == []
    invalid = await client.post(
        URL, json=location_body(setup, mainNumber="12"), headers=bearer(token)
    )
    assert_error(invalid, 400, 1013)
    assert await location_named(db, "Milan office") == []
