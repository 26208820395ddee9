"""The usage ledger is written by the database in the transaction of each change (migration
0012): real provisioning, a package update and a deletion through the customers API and its
worker; a change undone in its own transaction leaves nothing; a failed change writes nothing;
the SQL id encoder equals ``ids.encode``; a missing year's partition is created later with
the rows it should hold."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.billing.conftest import READ
from tests.conftest import Tenant, bearer
from tests.customers.helpers import create_template, meetings_body, wait_for
from tests.factories import make_customer

CUSTOMERS_WRITE = "spark-admin:wholesale_customers_write"


async def running(db: Database, customer_id: uuid.UUID) -> dict[tuple[Any, str], bool]:
    """(subscriber, package) → whether the interval is still running, for one customer."""
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT subscriber_id, package, valid_to = 'infinity' FROM usage_ledger"
                " WHERE customer_id = :c"
            ),
            {"c": customer_id},
        )
        return {(r[0], r[1]): r[2] for r in rows}


async def test_provisioning_update_and_deletion(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, worker: None
) -> None:
    template = await create_template(client, tenant)
    token = await tenant.token(CUSTOMERS_WRITE, READ)
    body = meetings_body(template["provisioningId"], "ledger")
    body["packages"] = ["webex_meetings", "cx_standard_agent"]
    created = await client.post("/v1/wholesale/customers", json=body, headers=bearer(token))
    assert created.status_code == 202, created.text
    url = created.json()["url"]
    customer = await wait_for(client, url, token)
    assert customer["status"] == "provisioned"
    customer_id = ids.decode("CUSTOMER", customer["id"])
    assert customer_id is not None
    ledger = await running(db, customer_id)
    # Both packages from provisioning, and the first administrator (customerInfo.primaryEmail)
    # with the organization's creation package.
    assert ledger[(None, "webex_meetings")] and ledger[(None, "cx_standard_agent")]
    admins = [k for k in ledger if k[0] is not None]
    assert len(admins) == 1 and ledger[admins[0]]

    updated = await client.put(url, json={"packages": ["webex_meetings"]}, headers=bearer(token))
    assert updated.status_code == 202, updated.text
    await wait_for(client, url, token)
    ledger = await running(db, customer_id)
    assert ledger[(None, "webex_meetings")] is True
    assert ledger[(None, "cx_standard_agent")] is False  # ended when it was removed

    deleted = await client.delete(url, headers=bearer(token))
    assert deleted.status_code == 202
    await wait_for(client, url, token, gone=True)
    ledger = await running(db, customer_id)
    assert ledger and not any(ledger.values())  # everything ended, nothing forgotten
    async with db.transaction() as session:
        kept = (
            await session.execute(
                text(
                    "SELECT external_id, removed IS NOT NULL FROM usage_customers"
                    " WHERE customer_id = :c"
                ),
                {"c": customer_id},
            )
        ).one()
    assert kept == ("ext-ledger", True)


async def test_pending_customer_and_statuses(db: Database, tenant: Tenant) -> None:
    setup = await make_customer(
        db, tenant, packages=["webex_meetings"], hq=False, status="provisioning"
    )
    assert await running(db, setup.customer.id) == {}
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE customers SET status = 'provisioned' WHERE id = :c"),
            {"c": setup.customer.id},
        )
    assert await running(db, setup.customer.id) == {(None, "webex_meetings"): True}
    async with db.transaction() as session:  # a package in error is not billed
        await session.execute(
            text(
                "UPDATE customers SET resource_details = "
                """'{"packages": [{"name": "webex_meetings", "status": "error"}]}'"""
                " WHERE id = :c"
            ),
            {"c": setup.customer.id},
        )
    assert await running(db, setup.customer.id) == {(None, "webex_meetings"): False}


async def test_undone_in_its_transaction_leaves_nothing(db: Database, tenant: Tenant) -> None:
    setup = await make_customer(db, tenant, packages=["webex_meetings"], hq=False)
    user_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            OrgUser(
                id=user_id,
                partner_id=tenant.partner.id,
                customer_id=setup.customer.id,
                org_id=setup.customer.org_id,
                email="brief@customer.example",
                roles=[],
                package="webex_meetings",
                status="provisioned",
            )
        )
        await session.flush()
        await session.execute(text("DELETE FROM org_users WHERE id = :u"), {"u": user_id})
    assert (user_id, "webex_meetings") not in await running(db, setup.customer.id)
    # A subscriber waiting for a user move is not billed until it is provisioned.
    async with db.transaction() as session:
        session.add(
            OrgUser(
                id=user_id,
                partner_id=tenant.partner.id,
                customer_id=setup.customer.id,
                org_id=setup.customer.org_id,
                email="mover@elsewhere.example",
                roles=[],
                package="webex_meetings",
                status="pending_user_migration",
            )
        )
    assert (user_id, "webex_meetings") not in await running(db, setup.customer.id)
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE org_users SET status = 'provisioned' WHERE id = :u"), {"u": user_id}
        )
    assert (await running(db, setup.customer.id))[(user_id, "webex_meetings")] is True


async def test_a_refused_change_writes_no_ledger_row(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    setup = await make_customer(db, tenant, packages=["webex_meetings"], hq=False)
    token = await tenant.token("spark-admin:wholesale_subscribers_write")
    before = await running(db, setup.customer.id)
    refused = await client.post(
        "/v1/wholesale/subscribers",
        json={"customerId": setup.id, "email": "x@y.example", "packages": ["webex_suite"]},
        headers=bearer(token),
    )
    assert refused.status_code == 400
    assert await running(db, setup.customer.id) == before


async def test_sql_ids_equal_the_python_encoder(db: Database) -> None:
    value = uuid.uuid4()
    async with db.transaction() as session:
        for kind, region in (("CUSTOMER", "eu"), ("SUBSCRIBER", "us"), ("ORGANIZATION", "US")):
            encoded = (
                await session.execute(
                    text("SELECT partnerhub_id(:k, :v, :r)"), {"k": kind, "v": value, "r": region}
                )
            ).scalar_one()
            assert encoded == ids.encode(kind, value, region)
            assert ids.decode(kind, encoded) == value


async def test_a_missing_year_partition_takes_its_rows_along(db: Database, tenant: Tenant) -> None:
    setup = await make_customer(db, tenant, packages=["webex_meetings"], hq=False)
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE usage_ledger SET valid_from = '2011-03-01', valid_to = '2011-05-02'"
                " WHERE customer_id = :c"
            ),
            {"c": setup.customer.id},
        )
        where = (
            await session.execute(
                text("SELECT tableoid::regclass::text FROM usage_ledger WHERE customer_id = :c"),
                {"c": setup.customer.id},
            )
        ).scalar_one()
        assert where == "usage_ledger_other"
        await session.execute(text("SELECT usage_ledger_add_years(2011, 2011)"))
        where = (
            await session.execute(
                text("SELECT tableoid::regclass::text FROM usage_ledger WHERE customer_id = :c"),
                {"c": setup.customer.id},
            )
        ).scalar_one()
        assert where == "usage_ledger_2011"
        await session.execute(text("DROP TABLE usage_ledger_2011"))
