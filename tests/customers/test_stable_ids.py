"""One resource, one id string (issue 11, "Ids are stable across endpoints"): a customer in the
EU region — and every resource it owns — has exactly the same id on every endpoint and page that
shows it. Before, the customers API said ``…/us/CUSTOMER/<uuid>`` and a subscriber's
``customerId`` said ``…/eu/CUSTOMER/<uuid>`` for the same customer."""

from __future__ import annotations

import httpx
import pytest

from partnerhub.db import Database
from tests.conftest import bearer, portal_login
from tests.factories import ALL_WRITE, LOC_READ, NUM_READ, SUB_READ, Tenant, make_customer

CUSTOMERS_READ = "spark-admin:wholesale_customers_read"
CUSTOMERS_WRITE = "spark-admin:wholesale_customers_write"


@pytest.mark.parametrize("region", ["EU", "US", "JP"])
async def test_every_endpoint_shows_the_same_ids(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, region: str
) -> None:
    setup = await make_customer(db, tenant, data_region=region, numbers=["+14155550100"])
    token = await tenant.token(CUSTOMERS_WRITE, *ALL_WRITE, SUB_READ, LOC_READ, NUM_READ)
    auth = bearer(token)

    listed = await client.get("/v1/wholesale/customers", headers=auth)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    customer_id, org_id = item["id"], item["orgId"]
    one = await client.get(f"/v1/wholesale/customers/{customer_id}", headers=auth)
    assert (one.json()["id"], one.json()["orgId"]) == (customer_id, org_id)
    by_external = await client.get(
        "/v1/wholesale/customers", params={"externalId": setup.customer.external_id}, headers=auth
    )
    assert by_external.json()["items"][0]["id"] == customer_id

    created = await client.post(
        "/v1/wholesale/subscribers",
        json={
            "customerId": customer_id,
            "email": "ada@customer.example",
            "package": "webex_meetings",
            "provisioningParameters": {"firstName": "Ada", "lastName": "Lovelace"},
        },
        headers=auth,
    )
    assert created.status_code == 200, created.text  # the vendor's POST answers 200
    subscriber = created.json()
    assert subscriber["customerId"] == customer_id
    got = await client.get(f"/v1/wholesale/subscribers/{subscriber['id']}", headers=auth)
    assert got.json()["id"] == subscriber["id"]
    assert got.json()["customerId"] == customer_id
    subscribers = await client.get(
        "/v1/wholesale/subscribers", params={"customerId": customer_id}, headers=auth
    )
    assert [s["id"] for s in subscribers.json()["items"]] == [subscriber["id"]]
    assert {s["customerId"] for s in subscribers.json()["items"]} == {customer_id}

    locations = await client.get("/v1/locations", params={"orgId": org_id}, headers=auth)
    assert locations.status_code == 200, locations.text
    [hq] = locations.json()["items"]
    assert (hq["orgId"], hq["customerId"]) == (org_id, customer_id)
    numbers = await client.get(
        "/v1/telephony/config/numbers", params={"orgId": org_id}, headers=auth
    )
    assert numbers.status_code == 200, numbers.text
    assert {n["location"]["id"] for n in numbers.json()["phoneNumbers"]} == {hq["id"]}

    requested = await client.post(
        f"/v1/partner/customers/{customer_id}/installationRequests",
        json={
            "contactName": "Ada",
            "contactEmail": "ada@customer.example",
            "phone": "+1 415 555 0100",
        },
        headers=auth,
    )
    assert requested.status_code == 201, requested.text
    assert requested.json()["customerId"] == customer_id
    requests = await client.get(
        f"/v1/partner/customers/{customer_id}/installationRequests", headers=auth
    )
    assert [r["id"] for r in requests.json()["items"]] == [requested.json()["id"]]
    assert requests.json()["items"][0]["customerId"] == customer_id

    # The portal links to the customer with the same id string.
    await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/customers")
    assert f'href="/customers/{customer_id}"' in page.text
    detail = await client.get(f"/customers/{customer_id}")
    assert detail.status_code == 200
    assert org_id in detail.text
