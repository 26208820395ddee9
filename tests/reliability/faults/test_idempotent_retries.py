"""Regression: a client that lost the answer to a subscriber POST or an import POST (the serving
process was killed after the commit) retries with the same ``Idempotency-Key`` and gets the
first answer again — before, the retry was answered 409 (10022, the email exists) or started a
second import of the same file."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub import jobs
from partnerhub.db import Database
from partnerhub.models import OrgUser, SubscriberImport
from tests.conftest import assert_error, bearer
from tests.factories import NUM_WRITE, SUB_WRITE, Setup, Tenant, add_numbers, make_customer


@pytest.fixture
async def setup(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> Setup:
    made = await make_customer(db, tenant)
    await add_numbers(client, await tenant.token(NUM_WRITE), made.hq_id, ["+14155550100..0109"])
    return made


async def count(db: Database, model: type, *where: object) -> int:
    async with db.transaction() as session:
        stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int((await session.execute(stmt)).scalar_one())


async def test_subscriber_post_retried_with_its_key_is_replayed(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(SUB_WRITE)
    body = {
        "customerId": setup.id,
        "email": "retry@customer.example",
        "packages": ["webex_calling"],
        "provisioningParameters": {"primaryPhoneNumber": "+14155550100", "extension": "2100"},
    }
    headers = {**bearer(token), "Idempotency-Key": "sub-retry-1"}
    first = await client.post("/v1/wholesale/subscribers", json=body, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post("/v1/wholesale/subscribers", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert await count(db, OrgUser, OrgUser.email == "retry@customer.example") == 1
    # the key with another body is refused; without a key the duplicate is a conflict
    other = await client.post(
        "/v1/wholesale/subscribers", json={**body, "email": "x@customer.example"}, headers=headers
    )
    assert_error(other, 422, 1403)
    plain = await client.post("/v1/wholesale/subscribers", json=body, headers=bearer(token))
    assert_error(plain, 409, 10022)


async def test_import_post_retried_with_its_key_runs_once(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(SUB_WRITE)
    csv = "email,package,phone_number,extension\n" + "".join(
        f"imp{i}@customer.example,webex_calling,+141555501{i:02d},{3000 + i}\n" for i in range(5)
    )
    headers = {**bearer(token), "Idempotency-Key": "import-retry-1", "Content-Type": "text/csv"}
    url = f"/v1/partner/customers/{setup.id}/imports"
    first = await client.post(url, content=csv, headers=headers)
    assert first.status_code == 202, first.text
    again = await client.post(url, content=csv, headers=headers)
    assert again.status_code == 202, again.text
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await count(db, SubscriberImport) == 1
    await jobs.app.run_worker_async(
        queues=["imports"], wait=False, install_signal_handlers=False, listen_notify=False
    )
    done = (await client.get(first.headers["Location"], headers=bearer(token))).json()
    assert (done["status"], done["createdCount"]) == ("succeeded", 5)
    assert await count(db, OrgUser, OrgUser.customer_id == setup.customer.id) == 5
