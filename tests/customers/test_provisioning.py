"""The provisioning state machine with both backends, run by a real procrastinate worker."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select, text, update

from partnerhub import ids
from partnerhub.config import Settings
from partnerhub.customers import provisioning, tasks
from partnerhub.db import Database
from partnerhub.models import Customer, CustomerEvent, OrgUser, OutboxEmail
from tests.conftest import bearer
from tests.customers.helpers import BASE, running_worker, wait_for
from tests.factories import customer_body


def use_fault(settings: Settings, **options: Any) -> None:
    settings.backend = "fault"
    for key, value in options.items():
        setattr(settings, f"fault_{key}", value)


async def _post(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> str:
    response = await client.post(BASE, json=body, headers=bearer(token))
    assert response.status_code == 202, response.text
    return str(response.headers["Location"])


def _package(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in body["resourceDetails"]["packages"] if p["name"] == name)


async def test_transient_failures_are_retried_then_succeed_with_a_warning(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    use_fault(settings, transient_attempts=2)  # every call fails on its first two attempts
    url = await _post(client, token, customer_body(template["provisioningId"]))
    body = await wait_for(client, url, token)
    assert body["status"] == "provisioned", body
    for package in body["resourceDetails"]["packages"]:
        assert package["status"] == "provisioned"
        assert package["errors"] == []
        assert package["warnings"] and all(w["errorCode"] == 2560 for w in package["warnings"])
        assert "will retry" in package["warnings"][0]["description"]
    # The task commits the customer's status before it returns; procrastinate counts the
    # attempt when it marks the job finished just after, so wait for the job to finish.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with db.transaction() as session:
            finished, attempts = (
                await session.execute(
                    text(
                        "SELECT bool_and(status = 'succeeded'), max(attempts) "
                        "FROM procrastinate_jobs WHERE task_name = :t"
                    ),
                    {"t": tasks.PROVISION_TASK},
                )
            ).one()
        if finished or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    async with db.transaction() as session:
        admins = (await session.execute(select(func.count(OrgUser.id)))).scalar_one()
        mails = (await session.execute(select(func.count(OutboxEmail.id)))).scalar_one()
    assert attempts == 3  # runs: two failed attempts, retried, then the success
    assert admins == 1 and mails == 1


async def test_exhausted_retries_end_in_error(
    client: httpx.AsyncClient,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    use_fault(settings, transient_attempts=100)
    url = await _post(client, token, customer_body(template["provisioningId"]))
    body = await wait_for(client, url, token)
    assert body["status"] == "error"
    assert "orgId" not in body
    for package in body["resourceDetails"]["packages"]:
        assert package["status"] == "error"
        assert package["errors"][0]["errorCode"] == 2561
        assert "retries exhausted" in package["errors"][0]["description"]
        assert package["warnings"][0]["errorCode"] == 2560


async def test_permanent_failure_of_one_package(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    use_fault(settings, permanent_packages="webex_meetings")
    url = await _post(client, token, customer_body(template["provisioningId"]))
    body = await wait_for(client, url, token)
    assert body["status"] == "provisioned_with_errors"
    assert ids.decode("ORGANIZATION", body["orgId"]) is not None
    assert _package(body, "webex_calling")["status"] == "provisioned"
    meetings = _package(body, "webex_meetings")
    assert meetings["status"] == "error"
    assert meetings["errors"][0]["errorCode"] == 2561
    licensed = await client.get(
        url, params={"includePackageLicenseInfo": "true"}, headers=bearer(token)
    )
    assert _package(licensed.json(), "webex_meetings")["licenseIds"] == []
    assert len(_package(licensed.json(), "webex_calling")["licenseIds"]) == 1
    # PUT without the failing package: the customer recovers
    response = await client.put(url, json={"packages": ["webex_calling"]}, headers=bearer(token))
    assert response.status_code == 202, response.text
    assert (await client.get(url, headers=bearer(token))).json()["status"] in (
        "updating",
        "provisioned",
    )
    body = await wait_for(client, url, token)
    assert body["status"] == "provisioned"
    assert [p["name"] for p in body["resourceDetails"]["packages"]] == ["webex_calling"]
    async with db.transaction() as session:
        statuses = [
            e.status
            for e in (
                await session.execute(
                    select(CustomerEvent)
                    .where(CustomerEvent.kind == "status")
                    .order_by(CustomerEvent.created)
                )
            ).scalars()
        ]
    assert statuses == ["provisioning", "provisioned_with_errors", "updating", "provisioned"]


async def test_every_package_failing_is_error(
    client: httpx.AsyncClient,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    use_fault(settings, permanent_packages="webex_calling,webex_meetings")
    url = await _post(client, token, customer_body(template["provisioningId"]))
    body = await wait_for(client, url, token)
    assert body["status"] == "error"
    assert "orgId" in body  # the organization exists, but nothing in it works


async def test_put_adds_and_removes_packages_through_the_backend(
    client: httpx.AsyncClient,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    url = await _post(client, token, customer_body(template["provisioningId"]))
    await wait_for(client, url, token)
    use_fault(settings, transient_attempts=1, latency_ms=20)
    response = await client.put(
        url, json={"packages": ["webex_calling", "cx_essentials"]}, headers=bearer(token)
    )
    assert response.status_code == 202
    during = (await client.get(url, headers=bearer(token))).json()
    assert during["status"] == "updating"
    assert _package(during, "webex_meetings")["status"] == "deleting"
    assert _package(during, "cx_essentials")["status"] == "provisioning"
    assert _package(during, "webex_calling")["status"] == "provisioned"
    body = await wait_for(client, url, token)
    assert body["status"] == "provisioned"
    assert [p["name"] for p in body["resourceDetails"]["packages"]] == [
        "webex_calling",
        "cx_essentials",
    ]
    assert _package(body, "cx_essentials")["warnings"][0]["errorCode"] == 2560


async def test_delete_retries_then_removes(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    url = await _post(client, token, customer_body(template["provisioningId"]))
    await wait_for(client, url, token)
    use_fault(settings, transient_attempts=1)
    assert (await client.delete(url, headers=bearer(token))).status_code == 202
    during = (await client.get(url, headers=bearer(token))).json()
    assert during["status"] == "deleting"
    assert {p["status"] for p in during["resourceDetails"]["packages"]} == {"deleting"}
    await wait_for(client, url, token, gone=True)
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(Customer.id)))).scalar_one() == 0
        last = (
            await session.execute(
                select(CustomerEvent.status).order_by(CustomerEvent.created.desc()).limit(1)
            )
        ).scalar_one()
    assert last == "deleted"


async def test_delete_that_keeps_failing_ends_in_error(
    client: httpx.AsyncClient,
    settings: Settings,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    url = await _post(client, token, customer_body(template["provisioningId"]))
    await wait_for(client, url, token)
    use_fault(settings, transient_attempts=100)
    assert (await client.delete(url, headers=bearer(token))).status_code == 202
    body = await wait_for(client, url, token)
    assert body["status"] == "error"
    assert body["errors"][-1]["errorCode"] == 2561
    # the customer can be deleted again once the service is back
    settings.backend = "null"
    assert (await client.delete(url, headers=bearer(token))).status_code == 202
    await wait_for(client, url, token, gone=True)


async def test_re_running_provisioning_creates_nothing_twice(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    url = await _post(client, token, customer_body(template["provisioningId"]))
    customer_id = ids.decode("CUSTOMER", url.rsplit("/", 1)[1])
    assert customer_id is not None
    await provisioning.run(customer_id, attempt=0, final=False)
    first = (await client.get(url, headers=bearer(token))).json()
    assert first["status"] == "provisioned"
    # a crash after the work but before the job was marked done: the job runs again
    await provisioning.run(customer_id, attempt=0, final=False)
    # even forced back into "provisioning", nothing is created twice
    async with db.transaction() as session:
        await session.execute(
            update(Customer).where(Customer.id == customer_id).values(status="provisioning")
        )
    await provisioning.run(customer_id, attempt=1, final=False)
    again = (await client.get(url, headers=bearer(token))).json()
    assert again["status"] == "provisioned"
    assert again["orgId"] == first["orgId"]
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(OrgUser.id)))).scalar_one() == 1
        assert (await session.execute(select(func.count(OutboxEmail.id)))).scalar_one() == 1


async def test_reconciler_recovers_lost_and_stalled_jobs(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    lost = await _post(client, token, customer_body(template["provisioningId"], 1))
    stalled = await _post(client, token, customer_body(template["provisioningId"], 2))
    async with db.transaction() as session:
        # lost: the process died between commit and defer (no job at all)
        await session.execute(
            text("DELETE FROM procrastinate_jobs WHERE args->>'customer_id' = :id"),
            {"id": str(ids.decode("CUSTOMER", lost.rsplit("/", 1)[1]))},
        )
        # stalled: its worker was killed mid-job (doing, worker gone)
        await session.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL "
                "WHERE args->>'customer_id' = :id"
            ),
            {"id": str(ids.decode("CUSTOMER", stalled.rsplit("/", 1)[1]))},
        )
        await session.execute(
            update(Customer).values(last_status_change=func.now() - text("interval '1 minute'"))
        )
    # Reconcile before a worker runs: a worker also runs the periodic reconciler, which could
    # get there first when a minute begins during the test.
    for url in (lost, stalled):
        assert (await client.get(url, headers=bearer(token))).json()["status"] == "provisioning"
    deferred = await tasks.reconcile_now()
    expected = {ids.decode("CUSTOMER", url.rsplit("/", 1)[1]) for url in (lost, stalled)}
    assert set(deferred) == expected
    assert await tasks.reconcile_now() == []  # jobs are queued now: nothing to do twice
    async with running_worker():
        for url in (lost, stalled):
            assert (await wait_for(client, url, token))["status"] == "provisioned"
    assert await tasks.reconcile_now() == []
