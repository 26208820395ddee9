"""Statement budgets of the hottest subscriber requests: what each sends to PostgreSQL, counted
at the driver (every psycopg cursor execute, from the ORM's engine and from the autocommit
pool alike, and every transaction: its BEGIN and COMMIT are two more round trips). A change
that adds a statement fails here; raise a budget only with a reason written beside it.

Each request is made once first (warm-up: pools connected, the token's last use recorded, so
the once-a-minute ``last_used`` touch is not counted), then counted.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from partnerhub.db import Database
from tests.conftest import Tenant, bearer
from tests.factories import (
    NUM_WRITE,
    SUB_READ,
    SUB_WRITE,
    Setup,
    add_numbers,
    make_customer,
    number,
)
from tests.statements import Sent, count_sent, counted

URL = "/v1/wholesale/subscribers"

# POST /v1/wholesale/subscribers, a calling subscriber with number and extension:
# 1. the bearer check with both rate-limit counters (autocommit pool, one statement),
# 2. every fact the rules read (customer, location, email holders and identity, number with
#    its holder, extension holder; SubscriberRepository.new_subscriber_facts),
# 3. the INSERT; each on its own on an autocommit connection (no BEGIN/COMMIT: a single
#    INSERT is atomic, the facts are only read).
POST_STATEMENTS = 3
POST_TRANSACTIONS = 0
# The same with a package the customer limits: the count must run under the package's lock,
# which lasts until its transaction ends, so the lock, the count and the INSERT are one
# transaction (begun after the facts: whether the customer limits the package is one of
# them). Before 2026-12-03 the facts statement took the lock inside the request's
# transaction (4 statements), at the price of a BEGIN/COMMIT for every POST.
POST_LIMITED_STATEMENTS = 5
POST_LIMITED_TRANSACTIONS = 1
# GET /v1/wholesale/subscribers/{id}: the bearer check; the subscriber with its customer's
# keys (one statement, autocommit).
GET_STATEMENTS = 2
GET_TRANSACTIONS = 0
# GET /v1/wholesale/subscribers?customerId=...: the bearer check; the page (plain rows); the
# keys of the page's customers; each on its own in autocommit (until 2026-12-03 the page and
# the keys ran in an ORM session's transaction). (The page joined to its customers in one
# statement measured four times slower with 1,000,000 subscribers: docs/performance.md.)
LIST_STATEMENTS = 3
LIST_TRANSACTIONS = 0


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Counts what every psycopg connection of this process sends while ``counting``."""
    return count_sent(monkeypatch)


@pytest.fixture
async def token(tenant: Tenant) -> str:
    return await tenant.token(SUB_WRITE, SUB_READ, NUM_WRITE)


@pytest.fixture
async def stocked(client: httpx.AsyncClient, setup: Setup, token: str) -> Setup:
    await add_numbers(client, token, setup.hq_id, [f"{number(100)}..0109"])
    return setup


def calling(setup: Setup, i: int) -> dict[str, Any]:
    return {
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


async def test_post_budget(
    client: httpx.AsyncClient, stocked: Setup, token: str, sent: Sent
) -> None:
    warm = await client.post(URL, json=calling(stocked, 1), headers=bearer(token))
    assert warm.status_code == 200, warm.text
    await counted(sent, lambda: client.post(URL, json=calling(stocked, 2), headers=bearer(token)))
    assert len(sent.statements) == POST_STATEMENTS, sent.statements
    assert sent.transactions == POST_TRANSACTIONS
    assert sent.statements[-1].startswith("INSERT INTO org_users"), sent.statements


async def test_post_of_a_limited_package_budget(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, token: str, sent: Sent
) -> None:
    limited = await make_customer(db, tenant, limits={"webex_meetings": 5})

    def body(i: int) -> dict[str, Any]:
        return {"customerId": limited.id, "email": f"m{i}@c.example", "package": "webex_meetings"}

    warm = await client.post(URL, json=body(1), headers=bearer(token))
    assert warm.status_code == 200, warm.text
    await counted(sent, lambda: client.post(URL, json=body(2), headers=bearer(token)))
    assert len(sent.statements) == POST_LIMITED_STATEMENTS, sent.statements
    assert sent.transactions == POST_LIMITED_TRANSACTIONS
    assert sent.statements[-1].startswith("INSERT INTO org_users"), sent.statements


async def test_get_one_budget(
    client: httpx.AsyncClient, stocked: Setup, token: str, sent: Sent
) -> None:
    created = await client.post(URL, json=calling(stocked, 1), headers=bearer(token))
    assert created.status_code == 200, created.text
    url = created.headers["Location"]
    assert (await client.get(url, headers=bearer(token))).status_code == 200  # warm-up
    got = await counted(sent, lambda: client.get(url, headers=bearer(token)))
    assert got.json() == created.json()
    assert len(sent.statements) == GET_STATEMENTS, sent.statements
    assert sent.transactions == GET_TRANSACTIONS


async def test_list_budget(
    client: httpx.AsyncClient, stocked: Setup, token: str, sent: Sent
) -> None:
    for i in range(1, 4):
        created = await client.post(URL, json=calling(stocked, i), headers=bearer(token))
        assert created.status_code == 200, created.text
    params = {"customerId": stocked.id, "max": "2"}
    assert (await client.get(URL, params=params, headers=bearer(token))).status_code == 200
    page = await counted(sent, lambda: client.get(URL, params=params, headers=bearer(token)))
    assert len(page.json()["items"]) == 2 and "next" in page.headers["Link"]
    assert len(sent.statements) == LIST_STATEMENTS, sent.statements
    assert sent.transactions == LIST_TRANSACTIONS
