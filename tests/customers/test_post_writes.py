"""``POST /v1/wholesale/customers`` writes the customer, its first event, its provisioning job
and (with an ``Idempotency-Key``) the key with its answer together, or nothing at all; a race
lost to a concurrent request gets the contract's answer (409, or the winner's replay).

(Formerly asserted against the fast lane, tests/customers/test_fast_post.py: the same
behaviours, now of the one route.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from partnerhub.db import Database
from partnerhub.kit import idempotency
from partnerhub.models import Customer, CustomerEvent, IdempotencyKey
from tests.conftest import Tenant, assert_error, bearer
from tests.customers.helpers import BASE, create_template, customer_body, wait_for


async def counts(db: Database) -> tuple[int, int, int, int]:
    async with db.transaction() as session:
        customers = (await session.execute(select(func.count(Customer.id)))).scalar_one()
        events = (await session.execute(select(func.count(CustomerEvent.id)))).scalar_one()
        keys = (await session.execute(select(func.count(IdempotencyKey.id)))).scalar_one()
        jobs = (await session.execute(text("SELECT count(*) FROM procrastinate_jobs"))).scalar_one()
    return int(customers), int(events), int(keys), int(jobs)


async def test_a_valid_post_writes_customer_event_and_job_and_is_provisioned(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str, worker: None
) -> None:
    body = customer_body(template["provisioningId"], 1)
    response = await client.post(BASE, json=body, headers=bearer(token))
    assert response.status_code == 202, response.text
    url = response.json()["url"]
    assert set(response.json()) == {"url"}
    assert response.headers["Location"] == url
    assert url.startswith(f"https://testserver{BASE}/")
    got = await wait_for(client, url, token)
    assert got["status"] == "provisioned", got
    assert got["externalId"] == body["externalId"]
    async with db.transaction() as session:
        first = (
            await session.execute(
                select(CustomerEvent.kind, CustomerEvent.status, CustomerEvent.detail)
                .order_by(CustomerEvent.created)
                .limit(1)
            )
        ).one()
        job = (
            await session.execute(
                text(
                    "SELECT task_name, queue_name, lock, queueing_lock, args "
                    "FROM procrastinate_jobs WHERE task_name = 'customers.provision'"
                )
            )
        ).one()
        customer_id = (await session.execute(select(Customer.id))).scalar_one()
    assert first[:2] == ("status", "provisioning")
    assert first[2]["by"]  # the acting administrator
    assert job.queue_name == "provisioning"
    assert job.lock == job.queueing_lock == f"customer:{customer_id}"
    assert job.args == {"customer_id": str(customer_id)}


async def test_a_held_customer_gets_no_job(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, token: str
) -> None:
    held = await create_template(client, tenant, requireApproval=True)
    response = await client.post(
        BASE, json=customer_body(held["provisioningId"], 1), headers=bearer(token)
    )
    assert response.status_code == 202, response.text
    assert await counts(db) == (1, 1, 0, 0)


async def test_an_idempotency_key_is_written_with_the_customer_and_replayed(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    body = customer_body(template["provisioningId"], 1)
    keyed = {**bearer(token), "Idempotency-Key": "once"}
    first = await client.post(BASE, json=body, headers=keyed)
    assert first.status_code == 202, first.text
    assert await counts(db) == (1, 1, 1, 1)
    replay = await client.post(BASE, json=body, headers=keyed)
    assert replay.status_code == 202
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.content == first.content  # byte for byte
    assert replay.headers["Location"] == first.headers["Location"]
    other = customer_body(template["provisioningId"], 2)
    assert_error(await client.post(BASE, json=other, headers=keyed), 422, 1403)
    assert await counts(db) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"provisioningId": "no-such-template"}, 404, 1100),
        ({"packages": ["no_such_package"]}, 400, 1003),
        ({"externalId": None}, 400, 1002),
        ({"address": {"country": "ZZ"}}, 400, 1002),
        ({"unknownField": True}, 400, 1003),
    ],
)
async def test_a_refused_post_writes_nothing_not_even_its_key(
    client: httpx.AsyncClient,
    db: Database,
    template: dict[str, Any],
    token: str,
    change: dict[str, Any],
    status: int,
    code: int,
) -> None:
    body = {**customer_body(template["provisioningId"], 1), **change}
    body = {k: v for k, v in body.items() if v is not None}
    keyed = {**bearer(token), "Idempotency-Key": "refused"}
    assert_error(await client.post(BASE, json=body, headers=keyed), status, code)
    assert await counts(db) == (0, 0, 0, 0)


async def test_a_taken_external_id_and_a_stranger_on_behalf(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    body = customer_body(template["provisioningId"], 1)
    first = await client.post(BASE, json=body, headers=bearer(token))
    assert first.status_code == 202, first.text
    assert_error(await client.post(BASE, json=body, headers=bearer(token)), 409, 1200)
    behalf = await client.post(
        f"{BASE}?onBehalfOfSubPartnerOrgId=x",
        json=customer_body(template["provisioningId"], 2),
        headers=bearer(token),
    )
    assert_error(behalf, 404, 1100)
    assert await counts(db) == (1, 1, 0, 1)


async def test_another_partners_template_is_not_found_and_nothing_written(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], other_tenant: Tenant
) -> None:
    stranger = await other_tenant.token("spark-admin:wholesale_customers_write")
    body = customer_body(template["provisioningId"], 1)
    assert_error(await client.post(BASE, json=body, headers=bearer(stranger)), 404, 1100)
    assert await counts(db) == (0, 0, 0, 0)


# --- lost races: a concurrent transaction writes first, after the request read its facts ---


async def _blocked(db: Database, table: str) -> None:
    """Until some session waits for a lock (the request's insert, behind ours)."""
    for _ in range(400):
        async with db.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query ILIKE :q"
                    ),
                    {"q": f"%INSERT INTO {table}%"},
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never waited for the concurrent transaction")


async def test_a_race_lost_on_the_external_id_is_a_409_with_nothing_written(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    pid = template["provisioningId"]
    seed = await client.post(BASE, json=customer_body(pid, "seed"), headers=bearer(token))
    assert seed.status_code == 202
    async with db.engine.connect() as winner:
        # The concurrent request's customer, not yet committed: the request's facts do not
        # see it; its insert waits on the unique index, then fails when we commit.
        await winner.execute(
            text(
                "INSERT INTO customers SELECT (jsonb_populate_record(c, jsonb_build_object("
                "'id', gen_random_uuid(), 'external_id', 'ext-1', 'org_id', NULL))).* "
                "FROM customers c WHERE external_id = 'ext-seed'"
            )
        )
        request = asyncio.create_task(
            client.post(BASE, json=customer_body(pid, 1), headers=bearer(token))
        )
        await _blocked(db, "customers")
        await winner.commit()
    response = await request
    assert_error(response, 409, 1200)
    assert "ext-1" in response.json()["errors"][0]["description"]
    assert await counts(db) == (2, 1, 0, 1)  # the seed's event and job, the winner's row


async def test_a_race_lost_on_the_idempotency_key_replays_the_winners_answer(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], tenant: Tenant, token: str
) -> None:
    body = customer_body(template["provisioningId"], 1)
    winner_answer = json.dumps({"url": "https://testserver/v1/wholesale/customers/winner"})
    async with db.engine.connect() as winner:
        # The same request with the same key, answered and not yet committed.
        await winner.execute(
            text(
                "INSERT INTO idempotency_keys (id, partner_id, key, fingerprint, status_code, "
                "headers, body, created, expires) VALUES (:id, :owner, 'raced', :print, 202, "
                "CAST(:headers AS jsonb), :body, now(), now() + interval '1 day')"
            ),
            {
                "id": uuid.uuid4(),
                "owner": tenant.partner.id,
                "print": idempotency.fingerprint(
                    "POST", BASE, tenant.partner.id, json.dumps(body).encode()
                ),
                "headers": json.dumps({"content-type": "application/json"}),
                "body": winner_answer.encode(),
            },
        )
        request = asyncio.create_task(
            client.post(BASE, json=body, headers={**bearer(token), "Idempotency-Key": "raced"})
        )
        await _blocked(db, "customers")
        await winner.commit()
    response = await request
    assert response.status_code == 202, response.text
    assert response.headers["Idempotency-Replayed"] == "true"
    assert response.text == winner_answer
    assert await counts(db) == (0, 0, 1, 0)
