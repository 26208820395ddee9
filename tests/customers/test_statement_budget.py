"""Statement budgets of the hottest customer requests (issue 15, "one path per operation").

Counted at the driver level (tests/statements.py: every psycopg cursor statement, the
autocommit bearer-check pool, SQLAlchemy's connections and procrastinate's alike; psycopg's
own BEGIN/COMMIT are not statements of ours). A change that adds a statement to one of these
requests fails here: make it fit, or raise the budget with a reason in its comment.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, text

from partnerhub.db import Database
from partnerhub.models import Customer, CustomerEvent, IdempotencyKey
from tests.conftest import bearer
from tests.customers.helpers import BASE, customer_body, meetings_body
from tests.statements import counting

# Each request counted after its token's first use: the bearer check records a token's
# ``last_used`` at most once a minute, one UPDATE more (identity/service.py).

# POST /v1/wholesale/customers (with or without an Idempotency-Key):
#   1. the bearer check with both rate-limit counters (autocommit pool, identity/repository.py)
#   2. every fact the rules read: the template and its administrator's email, the three
#      conflicts (externalId, orgId, email), whether the key is known
#      (customers/repository.py, _NEW_CUSTOMER_FACTS)
#   3. the customer, its first event, [the key with its answer,] and the provisioning job
#      (procrastinate_defer_jobs_v1) as one statement (_new_customer_statement)
POST_BUDGET = 3
# ... each on its own in autocommit (no ORM session; until 2026-12-03 in a transaction).
POST_TRANSACTIONS = 0

# GET /v1/wholesale/customers (any page, any filter):
#   1. the bearer check with its counters
#   2. set_config: sequential and bitmap scans off for this transaction (repository._PAGE)
#   3. the page: ids chosen on the narrow index, only those rows read whole
# 2 and 3 in one transaction of their own on an autocommit connection, pipelined (BEGIN, both
# statements and the sync go out together, then the COMMIT); no ORM session (until
# 2026-12-03 an ORM session's transaction: four round trips instead of two).
LIST_BUDGET = 3
LIST_TRANSACTIONS = 1

# GET /v1/wholesale/customers/{id}:
#   1. the bearer check with its counters
#   2. the customer's listed columns (CustomerRepository.listing), in autocommit
GET_BUDGET = 2
GET_TRANSACTIONS = 0


async def written(db: Database) -> tuple[int, int, int, int]:
    async with db.transaction() as session:
        customers = (await session.execute(select(func.count(Customer.id)))).scalar_one()
        events = (await session.execute(select(func.count(CustomerEvent.id)))).scalar_one()
        keys = (await session.execute(select(func.count(IdempotencyKey.id)))).scalar_one()
        jobs = (await session.execute(text("SELECT count(*) FROM procrastinate_jobs"))).scalar_one()
    return int(customers), int(events), int(keys), int(jobs)


async def test_post_fits_its_budget_with_and_without_a_key(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    pid = template["provisioningId"]
    await client.post(BASE, json=customer_body(pid, "warm"), headers=bearer(token))  # prepared
    with counting() as sent:
        response = await client.post(BASE, json=customer_body(pid, 1), headers=bearer(token))
    assert response.status_code == 202, response.text
    assert len(sent) == POST_BUDGET, sent.explain()
    assert sent.transactions == POST_TRANSACTIONS
    keyed = {**bearer(token), "Idempotency-Key": "budget-1"}
    with counting() as sent:
        response = await client.post(BASE, json=customer_body(pid, 2), headers=keyed)
    assert response.status_code == 202, response.text
    assert len(sent) == POST_BUDGET, sent.explain()
    assert sent.transactions == POST_TRANSACTIONS
    # What the statements wrote: customer, event and job each time, the key once.
    assert await written(db) == (3, 3, 1, 3)


async def test_list_fits_its_budget_for_every_filter(
    client: httpx.AsyncClient, template: dict[str, Any], token: str, read_token: str
) -> None:
    for n in range(3):
        created = await client.post(
            BASE, json=meetings_body(template["provisioningId"], n), headers=bearer(token)
        )
        assert created.status_code == 202
    await client.get(BASE, headers=bearer(read_token))  # the token's first use
    for query in ("", "max=1", "offset=1&max=1", "status=provisioning", "externalId=ext-1"):
        with counting() as sent:
            response = await client.get(f"{BASE}?{query}", headers=bearer(read_token))
        assert response.status_code == 200, response.text
        assert len(sent) == LIST_BUDGET, f"{query}:\n{sent.explain()}"
        assert sent.transactions == LIST_TRANSACTIONS, query


async def test_get_one_fits_its_budget(
    client: httpx.AsyncClient, template: dict[str, Any], token: str, read_token: str
) -> None:
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"], 1), headers=bearer(token)
    )
    url = created.headers["Location"]
    await client.get(url, headers=bearer(read_token))  # the token's first use
    for query in ("", "?includePackageLicenseInfo=true"):
        with counting() as sent:
            response = await client.get(url + query, headers=bearer(read_token))
        assert response.status_code == 200, response.text
        assert len(sent) == GET_BUDGET, sent.explain()
        assert sent.transactions == GET_TRANSACTIONS
