"""Provisioning materializes the HQ calling location, its legacy numbers and main number, and
records the organization's creation package (the administrators' tier, S26)."""

from __future__ import annotations

from typing import Any

import httpx

from partnerhub.db import Database
from tests.conftest import bearer
from tests.customers.helpers import BASE, wait_for
from tests.factories import Tenant, customer_body, location


async def test_hq_location_and_numbers_appear_after_provisioning(
    client: httpx.AsyncClient,
    tenant: Tenant,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    calling_location = {
        **location("US"),
        "numbers": ["+14085550101", "+14085550102"],
        "mainNumber": "+14085550100",
    }
    body = customer_body(
        template["provisioningId"],
        "hq",
        provisioningParameters={"calling": {"location": calling_location}},
    )
    created = await client.post(BASE, json=body, headers=bearer(token))
    assert created.status_code == 202, created.text
    customer = await wait_for(client, created.headers["Location"], token)
    assert customer["status"] == "provisioned", customer

    reader = bearer(await tenant.token("partnerhub:locations_read", "partnerhub:numbers_read"))
    locations = await client.get(f"/v1/locations?orgId={customer['orgId']}", headers=reader)
    assert locations.status_code == 200, locations.text
    items = locations.json()["items"]
    assert len(items) == 1
    hq = items[0]
    assert hq["address"]["city"] == "Milpitas"
    numbers = await client.get(
        f"/v1/telephony/config/numbers?orgId={customer['orgId']}&locationId={hq['id']}",
        headers=reader,
    )
    assert numbers.status_code == 200, numbers.text
    listed = {n["phoneNumber"]: n for n in numbers.json()["phoneNumbers"]}
    assert {"+14085550100", "+14085550101", "+14085550102"} <= set(listed)
    assert listed["+14085550100"]["mainNumber"] is True


async def test_creation_package_is_recorded(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str
) -> None:
    from partnerhub import ids
    from partnerhub.models import Customer

    created = await client.post(
        BASE,
        json=customer_body(template["provisioningId"], "tier"),
        headers=bearer(token),
    )
    assert created.status_code == 202
    customer_id = ids.decode("CUSTOMER", created.headers["Location"].rsplit("/", 1)[-1])
    async with db.transaction() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    assert row.settings["creationPackage"] == "webex_calling"
