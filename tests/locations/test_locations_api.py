"""Locations over the API: create, get, list by orgId, update, validation, scopes, isolation,
and the HQ location materialized from the customer's provisioning record."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from partnerhub.db import Database
from partnerhub.locations.service import ensure_hq_location
from partnerhub.models import Customer
from tests.conftest import assert_error, bearer
from tests.factories import LOC_READ, LOC_WRITE, NUM_WRITE, Setup, Tenant, make_customer


def location_body(setup: Setup, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orgId": setup.org,
        "name": "Milan office",
        "timeZone": "Europe/Rome",
        "preferredLanguage": "it_IT",
        "announcementLanguage": "it_IT",
        "address": {
            "address1": "Via Roma 1",
            "city": "Milano",
            "state": "MI",
            "postalCode": "20121",
            "country": "IT",
        },
    }
    body.update(overrides)
    return body


async def test_create_get_list_update(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(LOC_WRITE)
    created = await client.post("/v1/locations", json=location_body(setup), headers=bearer(token))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Milan office"
    assert body["orgId"] == setup.org
    assert body["customerId"] == setup.id
    assert body["timeZone"] == "Europe/Rome"
    assert body["address"] == {
        "address1": "Via Roma 1",
        "address2": None,
        "city": "Milano",
        "state": "IT-MI",
        "postalCode": "20121",
        "country": "IT",
    }
    assert body["headquarters"] is False
    assert body["mainNumber"] is None
    assert created.headers["Location"].endswith(f"/v1/locations/{body['id']}")

    got = await client.get(f"/v1/locations/{body['id']}", headers=bearer(token))
    assert got.status_code == 200
    assert got.json() == body

    listed = await client.get("/v1/locations", params={"orgId": setup.org}, headers=bearer(token))
    names = [loc["name"] for loc in listed.json()["items"]]
    assert names == ["Headquarters", "Milan office"]
    by_name = await client.get(
        "/v1/locations", params={"orgId": setup.org, "name": "milan"}, headers=bearer(token)
    )
    assert [loc["name"] for loc in by_name.json()["items"]] == ["Milan office"]

    changed = await client.put(
        f"/v1/locations/{body['id']}",
        json=location_body(setup, name="Milano HQ2", timeZone="Europe/Rome"),
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Milano HQ2"


async def test_hq_location_from_the_provisioning_record(
    db: Database, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    setup = await make_customer(
        db,
        tenant,
        numbers=["+14155550100", "+14155550101", "+390212345678", "not-a-number"],
        main_number="+14155550100",
    )
    token = await tenant.token(LOC_READ, "partnerhub:numbers_read")
    hq = (await client.get(f"/v1/locations/{setup.hq_id}", headers=bearer(token))).json()
    assert hq["headquarters"] is True
    assert hq["name"] == "Headquarters"
    assert hq["timeZone"] == "America/Los_Angeles"
    assert hq["address"]["state"] == "US-CA"
    assert hq["mainNumber"] == "+14155550100"
    numbers = await client.get(
        "/v1/telephony/config/numbers", params={"locationId": setup.hq_id}, headers=bearer(token)
    )
    assert [n["phoneNumber"] for n in numbers.json()["phoneNumbers"]] == [
        "+14155550100",
        "+14155550101",
    ]
    # Idempotent: a second run adds nothing and keeps the same location.
    async with db.transaction() as session:
        customer = await session.get(Customer, setup.customer.id)
        assert customer is not None
        again = await ensure_hq_location(session, customer)
    assert again.location is not None and again.location.id == setup.hq.id  # type: ignore[union-attr]
    assert again.added_numbers == []
    assert {n for n, _ in again.skipped_numbers} == {"+390212345678", "not-a-number"}


@pytest.mark.parametrize(
    ("overrides", "status", "code", "needle"),
    [
        ({"name": ""}, 400, 1002, "name"),
        ({"name": "x" * 81}, 400, 1003, "name"),
        ({"timeZone": "Mars/Olympus"}, 400, 1003, "timeZone"),
        ({"timeZone": "Asia/Tokyo"}, 400, 1003, "not a time zone of country IT"),
        ({"preferredLanguage": "xx_YY"}, 400, 1003, "preferredLanguage"),
        ({"preferredLanguage": None}, 400, 1002, "preferredLanguage"),
        (
            {"address": {"address1": "A", "city": "Milano", "country": "IT", "state": "MI"}},
            400,
            1004,
            "address.postalCode",
        ),
        (
            {
                "address": {
                    "address1": "A",
                    "city": "Austin",
                    "country": "US",
                    "postalCode": "73301",
                },
                "timeZone": "America/Chicago",
            },
            400,
            1004,
            "address.state",
        ),
        (
            {"address": {"address1": "A", "city": "X", "country": "ZZ"}},
            400,
            1003,
            "address.country",
        ),
        ({"orgId": "bm9wZQ"}, 404, 1100, "orgId"),
        ({"unknown": 1}, 400, 1003, "unknown"),
    ],
)
async def test_validation(
    client: httpx.AsyncClient,
    tenant: Tenant,
    setup: Setup,
    overrides: dict[str, Any],
    status: int,
    code: int,
    needle: str,
) -> None:
    token = await tenant.token(LOC_WRITE)
    response = await client.post(
        "/v1/locations", json=location_body(setup, **overrides), headers=bearer(token)
    )
    body = assert_error(response, status, code)
    assert needle in str(body["message"]), body


async def test_name_unique_per_organization(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(LOC_WRITE)
    first = await client.post("/v1/locations", json=location_body(setup), headers=bearer(token))
    assert first.status_code == 201
    again = await client.post(
        "/v1/locations",
        json=location_body(setup, name="MILAN OFFICE"),
        headers=bearer(token),
    )
    assert_error(again, 409, 1211)


async def test_main_number_set_and_cleared(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(LOC_WRITE, NUM_WRITE)
    loc = (
        await client.post("/v1/locations", json=location_body(setup), headers=bearer(token))
    ).json()
    added = await client.post(
        f"/v1/telephony/config/locations/{loc['id']}/numbers",
        json={"phoneNumbers": ["+390212345600..601"]},
        headers=bearer(token),
    )
    assert added.status_code == 201, added.text
    with_main = await client.put(
        f"/v1/locations/{loc['id']}",
        json=location_body(setup, mainNumber="+390212345601"),
        headers=bearer(token),
    )
    assert with_main.json()["mainNumber"] == "+390212345601"
    kept = await client.put(
        f"/v1/locations/{loc['id']}", json=location_body(setup), headers=bearer(token)
    )
    assert kept.json()["mainNumber"] == "+390212345601"
    not_here = await client.put(
        f"/v1/locations/{loc['id']}",
        json=location_body(setup, mainNumber="+14155550100"),
        headers=bearer(token),
    )
    assert_error(not_here, 400, 1013)
    cleared = await client.put(
        f"/v1/locations/{loc['id']}",
        json=location_body(setup, mainNumber=None),
        headers=bearer(token),
    )
    assert cleared.json()["mainNumber"] is None


async def test_scopes(client: httpx.AsyncClient, tenant: Tenant, setup: Setup) -> None:
    read = await tenant.token(LOC_READ)
    refused = await client.post("/v1/locations", json=location_body(setup), headers=bearer(read))
    assert_error(refused, 403, 1300)
    other = await tenant.token("partnerhub:templates_read")
    assert_error(await client.get("/v1/locations", headers=bearer(other)), 403, 1300)
    assert_error(await client.get("/v1/locations"), 401, 1500)


async def test_another_partner_gets_404(
    client: httpx.AsyncClient, setup: Setup, other_tenant: Tenant
) -> None:
    token = await other_tenant.token(LOC_WRITE)
    assert_error(await client.get(f"/v1/locations/{setup.hq_id}", headers=bearer(token)), 404, 1100)
    put = await client.put(
        f"/v1/locations/{setup.hq_id}", json=location_body(setup), headers=bearer(token)
    )
    assert_error(put, 404, 1100)
    post = await client.post("/v1/locations", json=location_body(setup), headers=bearer(token))
    assert_error(post, 404, 1100)
    listed = await client.get("/v1/locations", params={"orgId": setup.org}, headers=bearer(token))
    assert listed.json() == {"items": []}
    everything = await client.get("/v1/locations", headers=bearer(token))
    assert everything.json() == {"items": []}


async def test_delete(client: httpx.AsyncClient, tenant: Tenant, setup: Setup) -> None:
    """DELETE /v1/locations/{id}: 204, its numbers leave the inventory; the headquarters and
    a location with users are refused (409, errorCode 1214), nothing deleted."""
    token = await tenant.token(LOC_WRITE, NUM_WRITE, "spark-admin:wholesale_subscribers_write")
    loc = (
        await client.post("/v1/locations", json=location_body(setup), headers=bearer(token))
    ).json()
    added = await client.post(
        f"/v1/telephony/config/locations/{loc['id']}/numbers",
        json={"phoneNumbers": ["+390212345700..702"]},
        headers=bearer(token),
    )
    assert added.status_code == 201, added.text

    hq = await client.delete(f"/v1/locations/{setup.hq_id}", headers=bearer(token))
    assert "headquarters" in str(assert_error(hq, 409, 1214)["message"])

    user = await client.post(
        "/v1/wholesale/subscribers",
        json={
            "customerId": setup.id,
            "email": "desk@milan.example",
            "packages": ["webex_calling"],
            "provisioningParameters": {
                "locationId": loc["id"],
                "primaryPhoneNumber": "+390212345701",
            },
        },
        headers=bearer(token),
    )
    assert user.status_code == 200, user.text
    in_use = await client.delete(f"/v1/locations/{loc['id']}", headers=bearer(token))
    assert "1 user" in str(assert_error(in_use, 409, 1214)["message"])
    assert (
        await client.get(f"/v1/locations/{loc['id']}", headers=bearer(token))
    ).status_code == 200

    removed = await client.delete(
        f"/v1/wholesale/subscribers/{user.json()['id']}", headers=bearer(token)
    )
    assert removed.status_code == 204, removed.text
    gone = await client.delete(f"/v1/locations/{loc['id']}", headers=bearer(token))
    assert gone.status_code == 204, gone.text
    assert_error(await client.get(f"/v1/locations/{loc['id']}", headers=bearer(token)), 404, 1100)
    numbers = await client.get(
        "/v1/telephony/config/numbers", params={"orgId": setup.org}, headers=bearer(token)
    )
    held = {n["phoneNumber"] for n in numbers.json()["phoneNumbers"]}
    assert not held & {"+390212345700", "+390212345701", "+390212345702"}
    # the numbers are free for another location again
    again = (
        await client.post(
            "/v1/locations", json=location_body(setup, name="Second"), headers=bearer(token)
        )
    ).json()
    readded = await client.post(
        f"/v1/telephony/config/locations/{again['id']}/numbers",
        json={"phoneNumbers": ["+390212345700"]},
        headers=bearer(token),
    )
    assert readded.status_code == 201, readded.text
    assert_error(
        await client.delete(f"/v1/locations/{loc['id']}", headers=bearer(token)), 404, 1100
    )


async def test_delete_scope_and_isolation(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup, other_tenant: Tenant
) -> None:
    token = await tenant.token(LOC_WRITE)
    loc = (
        await client.post("/v1/locations", json=location_body(setup), headers=bearer(token))
    ).json()
    read = await tenant.token(LOC_READ)
    assert_error(await client.delete(f"/v1/locations/{loc['id']}", headers=bearer(read)), 403, 1300)
    intruder = await other_tenant.token(LOC_WRITE)
    assert_error(
        await client.delete(f"/v1/locations/{loc['id']}", headers=bearer(intruder)), 404, 1100
    )
    assert_error(await client.delete("/v1/locations/not-an-id", headers=bearer(token)), 404, 1100)
    assert (
        await client.get(f"/v1/locations/{loc['id']}", headers=bearer(token))
    ).status_code == 200
