"""The number inventory: add numbers and ranges, refuse bad and duplicate numbers, list and
filter, remove only unassigned numbers, scopes and tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import assert_error, bearer
from tests.factories import NUM_READ, NUM_WRITE, SUB_WRITE, Setup, Tenant, add_numbers, number

LIST = "/v1/telephony/config/numbers"


def numbers_url(location_id: str) -> str:
    return f"/v1/telephony/config/locations/{location_id}/numbers"


async def test_add_numbers_and_ranges(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(NUM_WRITE)
    response = await client.post(
        numbers_url(setup.hq_id),
        json={
            "phoneNumbers": ["+1 415 555 0100", "+14155550110..+14155550112", "+14155550120..21"],
            "numberType": "DID",
            "state": "ACTIVE",
        },
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    added = [n["phoneNumber"] for n in response.json()["phoneNumbers"]]
    assert added == [
        "+14155550100",
        "+14155550110",
        "+14155550111",
        "+14155550112",
        "+14155550120",
        "+14155550121",
    ]
    first = response.json()["phoneNumbers"][0]
    assert first["location"] == {"id": setup.hq_id, "name": "Headquarters"}
    assert first["mainNumber"] is False
    assert first["state"] == "ACTIVE"
    assert "owner" not in first

    listed = await client.get(LIST, params={"locationId": setup.hq_id}, headers=bearer(token))
    assert [n["phoneNumber"] for n in listed.json()["phoneNumbers"]] == added


@pytest.mark.parametrize(
    ("numbers", "status", "code", "needle"),
    [
        (["12345"], 400, 1013, "not a valid E.164"),
        (["+390212345678"], 400, 1013, "country US"),
        (["+14155550100", "+1 (415) 555-0100"], 400, 1003, "more than once"),
        (["+14155550100..+14155550099"], 400, 1013, "not a range"),
        (["+14155550000..+14155552000"], 400, 1003, "at most 1000"),
        ([], 400, 1002, "phoneNumbers"),
    ],
)
async def test_bad_numbers_add_nothing(
    client: httpx.AsyncClient,
    tenant: Tenant,
    setup: Setup,
    numbers: list[str],
    status: int,
    code: int,
    needle: str,
) -> None:
    token = await tenant.token(NUM_WRITE)
    response = await client.post(
        numbers_url(setup.hq_id), json={"phoneNumbers": numbers}, headers=bearer(token)
    )
    body = assert_error(response, status, code)
    assert needle in str(body["message"]), body
    listed = await client.get(LIST, headers=bearer(token))
    assert listed.json() == {"phoneNumbers": []}


async def test_duplicates_refused_even_across_partners(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup, other_tenant: Tenant
) -> None:
    token = await tenant.token(NUM_WRITE)
    await add_numbers(client, token, setup.hq_id, [number(100)])
    again = await client.post(
        numbers_url(setup.hq_id),
        json={"phoneNumbers": [number(101), number(100)]},
        headers=bearer(token),
    )
    assert_error(again, 409, 1212)
    from tests.factories import make_customer

    other = await make_customer(setup.tenant.db, other_tenant)
    other_token = await other_tenant.token(NUM_WRITE)
    elsewhere = await client.post(
        numbers_url(other.hq_id), json={"phoneNumbers": [number(100)]}, headers=bearer(other_token)
    )
    assert_error(elsewhere, 409, 1212)
    # Nothing of the refused request was added.
    listed = await client.get(LIST, headers=bearer(token))
    assert [n["phoneNumber"] for n in listed.json()["phoneNumbers"]] == [number(100)]


async def test_filters_and_remove_only_unassigned(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(NUM_WRITE, SUB_WRITE)
    await add_numbers(client, token, setup.hq_id, [number(100), number(101), number(102)])
    created = await client.post(
        "/v1/wholesale/subscribers",
        json={
            "customerId": setup.id,
            "email": "ada@customer.example",
            "packages": ["webex_calling"],
            "provisioningParameters": {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "primaryPhoneNumber": number(101),
                "extension": "1001",
            },
        },
        headers=bearer(token),
    )
    assert created.status_code == 200, created.text

    async def phones(**params: str) -> list[str]:
        r = await client.get(LIST, params=params, headers=bearer(token))
        assert r.status_code == 200, r.text
        return [n["phoneNumber"] for n in r.json()["phoneNumbers"]]

    assert await phones(available="true") == [number(100), number(102)]
    assert await phones(available="false") == [number(101)]
    assert await phones(ownerName="lovelace") == [number(101)]
    assert await phones(phoneNumber="0102") == [number(102)]
    assert await phones(orgId=setup.org) == [number(100), number(101), number(102)]
    owned = await client.get(LIST, params={"ownerName": "Ada"}, headers=bearer(token))
    item = owned.json()["phoneNumbers"][0]
    assert item["owner"]["type"] == "PEOPLE"
    assert item["owner"]["firstName"] == "Ada"
    assert item["owner"]["id"] == created.json()["personId"]
    assert item["extension"] == "1001"
    assert_error(
        await client.get(LIST, params={"available": "maybe"}, headers=bearer(token)), 400, 1003
    )

    refused = await client.request(
        "DELETE",
        numbers_url(setup.hq_id),
        json={"phoneNumbers": [number(100), number(101)]},
        headers=bearer(token),
    )
    body = assert_error(refused, 400, 1013)
    assert "ada@customer.example" in str(body["message"])
    assert await phones() == [number(100), number(101), number(102)]
    missing = await client.request(
        "DELETE",
        numbers_url(setup.hq_id),
        json={"phoneNumbers": [number(150)]},
        headers=bearer(token),
    )
    assert_error(missing, 400, 1013)
    removed = await client.request(
        "DELETE",
        numbers_url(setup.hq_id),
        json={"phoneNumbers": [number(100), number(102)]},
        headers=bearer(token),
    )
    assert removed.status_code == 204, removed.text
    assert await phones() == [number(101)]


async def test_main_number_is_not_available(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    token = await tenant.token(NUM_WRITE, "partnerhub:locations_write")
    await add_numbers(client, token, setup.hq_id, [number(100), number(101)])
    hq = (await client.get(f"/v1/locations/{setup.hq_id}", headers=bearer(token))).json()
    body = {k: hq[k] for k in ("name", "timeZone", "preferredLanguage", "address")}
    marked = await client.put(
        f"/v1/locations/{setup.hq_id}",
        json={**body, "mainNumber": number(100)},
        headers=bearer(token),
    )
    assert marked.status_code == 200, marked.text
    listed = await client.get(LIST, params={"available": "true"}, headers=bearer(token))
    assert [n["phoneNumber"] for n in listed.json()["phoneNumbers"]] == [number(101)]
    main = await client.get(LIST, params={"phoneNumber": number(100)}, headers=bearer(token))
    assert main.json()["phoneNumbers"][0]["mainNumber"] is True


async def test_pagination(client: httpx.AsyncClient, tenant: Tenant, setup: Setup) -> None:
    token = await tenant.token(NUM_WRITE)
    await add_numbers(client, token, setup.hq_id, ["+14155550100..0124"])
    seen: list[str] = []
    url: str | None = f"{LIST}?locationId={setup.hq_id}&max=10"
    while url:
        page = await client.get(url, headers=bearer(token))
        seen += [n["phoneNumber"] for n in page.json()["phoneNumbers"]]
        link = page.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
        if url:
            assert url.startswith("https://testserver/") and "locationId=" in url
    assert len(seen) == 25 and seen == sorted(seen)


async def test_scopes_and_isolation(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup, other_tenant: Tenant
) -> None:
    read = await tenant.token(NUM_READ)
    refused = await client.post(
        numbers_url(setup.hq_id), json={"phoneNumbers": [number(1)]}, headers=bearer(read)
    )
    assert_error(refused, 403, 1300)
    write = await tenant.token(NUM_WRITE)
    await add_numbers(client, write, setup.hq_id, [number(1)])

    other = await other_tenant.token(NUM_WRITE)
    add = await client.post(
        numbers_url(setup.hq_id), json={"phoneNumbers": [number(2)]}, headers=bearer(other)
    )
    assert_error(add, 404, 1100)
    delete = await client.request(
        "DELETE",
        numbers_url(setup.hq_id),
        json={"phoneNumbers": [number(1)]},
        headers=bearer(other),
    )
    assert_error(delete, 404, 1100)
    for params in ({}, {"orgId": setup.org}, {"locationId": setup.hq_id}):
        listed = await client.get(LIST, params=params, headers=bearer(other))
        assert listed.json() == {"phoneNumbers": []}
