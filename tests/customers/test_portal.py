"""Customer pages in the portal: list with search/filter/paging, the "Create wholesale
customer" wizard (S14-S19), the customer page and its live status, change packages, delete,
the outbox; CSRF, roles and tenant isolation."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy import text as sql

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import Customer
from tests.conftest import bearer, csrf_of, portal_login
from tests.customers.helpers import BASE, wait_for
from tests.factories import Tenant, meetings_body
from tests.portal.helpers import browser_session

WIZ = "/customers/wizard"


def customer_fields(template: dict[str, Any], **overrides: str) -> dict[str, str]:
    fields = {
        "name": "Pizzeria Roma",
        "email": "owner@pizzeria.example",
        "external_id": "crm-77",
        "country": "IT",
        "template": template["provisioningId"],
        "supported": "on",
    }
    fields.update(overrides)
    return fields


LOCATION = {
    "location_name": "Sede",
    "address_line1": "Via Roma 1",
    "city": "Milano",
    "state": "MI",
    "postal_code": "20121",
    "timezone": "Europe/Rome",
    "language": "it_IT",
}


async def post(client: httpx.AsyncClient, csrf: str, url: str, data: Any = None) -> httpx.Response:
    """Post a form; ``data`` is a dict, or a list of pairs for repeated fields."""
    pairs = [("csrf_token", csrf), *(data.items() if isinstance(data, dict) else data or [])]
    return await client.post(
        url,
        content=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    return match.group(1) if match else None


async def count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(Customer.id)))).scalar_one())


async def test_wizard_creates_a_customer(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    listing = await client.get("/customers")
    assert "Create wholesale customer" in listing.text
    start = await client.get("/customers/new")
    assert start.headers["location"] == f"{WIZ}/customer"
    page = await client.get(f"{WIZ}/customer")
    assert "I verify that this customer is in a supported location" in page.text
    # a later step is not reachable yet
    jump = await client.get(f"{WIZ}/summary")
    assert jump.headers["location"] == f"{WIZ}/customer"

    # Next refuses without the supported-location confirmation, keeping what was typed
    fields = customer_fields(template)
    del fields["supported"]
    refused = await post(client, csrf, f"{WIZ}/customer", fields)
    assert refused.status_code == 400
    assert field_error(refused.text, "supported") == (
        "Confirm that this customer is in a supported location"
    )
    assert 'value="Pizzeria Roma"' in refused.text
    bad = await post(client, csrf, f"{WIZ}/customer", customer_fields(template, email="nope"))
    assert bad.status_code == 400
    # in the reader's words, next to the field: no wire path
    assert field_error(bad.text, "email") == (
        "Admin email: &#39;nope&#39; is not a valid email address"
    )
    assert "customerInfo.primaryEmail" not in bad.text
    ok = await post(client, csrf, f"{WIZ}/customer", customer_fields(template))
    assert ok.status_code == 303 and ok.headers["location"] == f"{WIZ}/packages"

    # an add-on without its base package is refused, with the dependency explained
    packages_page = await client.get(f"{WIZ}/packages")
    assert "Add-on: needs one of Webex Calling, Webex Suite, Customer Assist" in packages_page.text
    refused = await post(
        client,
        csrf,
        f"{WIZ}/packages",
        [("packages", "webex_meetings"), ("packages", "attendant_console")],
    )
    assert refused.status_code == 400
    assert (field_error(refused.text, "packages") or "").startswith(
        "Packages: Attendant Console needs one of Webex Calling"
    )
    limit = await post(
        client,
        csrf,
        f"{WIZ}/packages",
        [("packages", "webex_calling"), ("limit_webex_calling", "x")],
    )
    assert limit.status_code == 400
    assert field_error(limit.text, "limit_webex_calling")
    ok = await post(
        client,
        csrf,
        f"{WIZ}/packages",
        [
            ("packages", "webex_calling"),
            ("packages", "attendant_console"),
            ("limit_webex_calling", "25"),
        ],
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"{WIZ}/location"

    location_page = await client.get(f"{WIZ}/location")
    assert "Europe/Rome" in location_page.text
    refused = await post(client, csrf, f"{WIZ}/location", {**LOCATION, "postal_code": "ABC"})
    assert refused.status_code == 400
    assert field_error(refused.text, "postal_code") == (
        "Postal code: &#39;ABC&#39; is not valid for the country Italy"
    )
    assert "zipOrPostalCode" not in refused.text
    ok = await post(client, csrf, f"{WIZ}/location", LOCATION)
    assert ok.status_code == 303 and ok.headers["location"] == f"{WIZ}/summary"

    summary = await client.get(f"{WIZ}/summary")
    for text in ("Pizzeria Roma", "crm-77", "Attendant Console", "Via Roma 1", "Europe/Rome"):
        assert text in summary.text
    assert await count(db) == 0  # nothing is saved before Create
    created = await post(client, csrf, f"{WIZ}/summary")
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert location.startswith("/customers/") and location.endswith("?created=1")
    page = await client.get(location)
    assert "Pizzeria Roma" in page.text
    customer_url = location.removesuffix("?created=1")
    api_url = BASE + customer_url.removeprefix("/customers")
    body = await wait_for(client, api_url, token)
    assert body["status"] == "provisioned"
    assert body["packages"] == ["webex_calling", "attendant_console"]
    assert body["dataRegion"] == "EU"
    settled = await client.get(customer_url)
    assert 'id="customer-status">Provisioned<' in settled.text
    assert "data-poll" not in settled.text
    fragment = await client.get(f"{customer_url}/status")
    assert fragment.status_code == 200 and "data-settled" in fragment.text


async def test_wizard_shows_create_time_conflicts(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await client.get("/customers/new")
    await post(client, csrf, f"{WIZ}/customer", customer_fields(template))
    await post(client, csrf, f"{WIZ}/packages", [("packages", "webex_meetings")])
    await post(client, csrf, f"{WIZ}/location", LOCATION)
    # meanwhile the external id is taken through the API
    taken = await client.post(
        BASE,
        json=meetings_body(template["provisioningId"], externalId="crm-77"),
        headers=bearer(token),
    )
    assert taken.status_code == 202
    refused = await post(client, csrf, f"{WIZ}/summary")
    assert refused.status_code == 409
    assert "External customer ID: another of your customers already has this ID" in refused.text
    assert "externalId" not in refused.text
    assert await count(db) == 1


async def test_wizard_warns_of_a_company_name_in_use(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    """A company name another customer of the partner has is a warning the administrator
    confirms (two shops may share a name), not a refusal."""
    existing = meetings_body(template["provisioningId"], externalId="crm-1")
    existing["customerInfo"]["name"] = "Pizzeria Roma"
    assert (await client.post(BASE, json=existing, headers=bearer(token))).status_code == 202
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await client.get("/customers/new")
    fields = customer_fields(template, name="pizzeria roma")
    warned = await post(client, csrf, f"{WIZ}/customer", fields)
    assert warned.status_code == 400
    assert 'class="warning" id="name-error"' in warned.text
    assert "You already have a customer named pizzeria roma" in warned.text
    assert 'name="confirm_name"' in warned.text
    confirmed = await post(client, csrf, f"{WIZ}/customer", {**fields, "confirm_name": "on"})
    assert confirmed.status_code == 303, confirmed.text
    assert confirmed.headers["location"] == f"{WIZ}/packages"
    # a name nobody has passes without the question
    await client.get("/customers/new")
    fresh = await post(client, csrf, f"{WIZ}/customer", customer_fields(template, name="Bar Sport"))
    assert fresh.status_code == 303


async def test_list_search_filter_and_pages(
    client: httpx.AsyncClient, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    for n in range(55):
        await client.post(
            BASE, json=meetings_body(template["provisioningId"], n), headers=bearer(token)
        )
    await portal_login(client, tenant.admin.email, tenant.password)
    first = await client.get("/customers")
    assert first.text.count("John&#39;s Pizza") == 50
    assert 'href="/customers?offset=50" rel="next"' in first.text
    second = await client.get("/customers?offset=50")
    assert second.text.count("John&#39;s Pizza") == 5
    found = await client.get("/customers?q=ext-42")
    assert found.text.count("John&#39;s Pizza") == 1
    by_name = await client.get("/customers?q=PIZZA 17")
    assert by_name.text.count("John&#39;s Pizza") == 1
    none = await client.get("/customers?status=provisioned")
    assert "No customer matches." in none.text


async def test_change_packages_delete_and_outbox(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    template: dict[str, Any],
    token: str,
    worker: None,
) -> None:
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    api_url = created.headers["Location"]
    await wait_for(client, api_url, token)
    page_url = "/customers/" + api_url.rsplit("/", 1)[1]
    csrf = await portal_login(client, tenant.admin.email, tenant.password)

    refused = await post(client, csrf, f"{page_url}/packages", [("packages", "webex_calling")])
    assert refused.status_code == 400
    assert "calling packages need the headquarters location" in refused.text
    assert "provisioningParameters.calling.location" not in refused.text
    changed = await post(
        client,
        csrf,
        f"{page_url}/packages",
        [("packages", "webex_meetings"), ("packages", "cx_standard_agent")],
    )
    assert changed.status_code == 303
    body = await wait_for(client, api_url, token)
    assert body["packages"] == ["webex_meetings", "cx_standard_agent"]

    outbox = await client.get("/customers/outbox")
    assert "john1@pizza.example" in outbox.text
    link = re.search(r'href="(/customers/outbox/[^"]+)"', outbox.text)
    assert link
    mail = await client.get(link.group(1))
    assert "Acme Cloud" in mail.text

    confirm = await client.get(f"{page_url}/delete")
    assert "This cannot be undone." in confirm.text
    # The confirmation says what will be lost, counted from the database by the test itself
    customer_id = ids.decode("CUSTOMER", api_url.rsplit("/", 1)[1])
    async with db.transaction() as session:
        held = {
            table: int(
                (
                    await session.execute(
                        sql(f"SELECT count(*) FROM {table} WHERE customer_id = :c"),
                        {"c": customer_id},
                    )
                ).scalar_one()
            )
            for table in ("org_users", "locations", "phone_numbers")
        }
    lost = re.search(r'<ul id="lost">(.*?)</ul>', confirm.text, re.S)
    assert lost is not None
    items = re.findall(r"<li>([^<]*)</li>", lost.group(1))
    users = held["org_users"]
    assert (
        items[0] == f"{users} user and their packages"
        if users == 1
        else (f"{users} users and their packages")
    )
    assert items[1] == f"{held['locations']} locations"
    assert items[2] == f"{held['phone_numbers']} phone numbers"
    chosen = await post(client, csrf, "/language", {"lang": "it", "next": f"{page_url}/delete"})
    assert chosen.status_code == 303
    italian = await client.get(f"{page_url}/delete")
    assert "Elimina" in italian.text
    assert f"{held['locations']} sedi" in italian.text
    assert f"{held['phone_numbers']} numeri di telefono" in italian.text
    deleted = await post(client, csrf, f"{page_url}/delete")
    assert deleted.status_code == 303
    await wait_for(client, api_url, token, gone=True)
    assert (await client.get(page_url)).status_code == 404
    assert (await client.get(f"{page_url}/status")).status_code == 404


async def test_csrf_roles_and_isolation(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    template: dict[str, Any],
    token: str,
) -> None:
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    page_url = "/customers/" + created.headers["Location"].rsplit("/", 1)[1]
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    assert (await client.get(page_url)).status_code == 200
    # a form without the CSRF token changes nothing
    forged = await client.post(f"{page_url}/delete", data={})
    assert forged.status_code == 403
    assert (await client.get(page_url)).status_code == 200
    assert "Provisioning" in (await client.get(page_url)).text

    async with browser_session(app) as other:
        other_csrf = await portal_login(other, other_tenant.admin.email, other_tenant.password)
        for url in (page_url, f"{page_url}/status", f"{page_url}/delete"):
            assert (await other.get(url)).status_code == 404, url
        assert (await post(other, other_csrf, f"{page_url}/delete")).status_code == 404
        assert (
            await post(other, other_csrf, f"{page_url}/packages", [("packages", "webex_meetings")])
        ).status_code == 404
        assert "John&#39;s Pizza" not in (await other.get("/customers")).text
        assert "john1@pizza.example" not in (await other.get("/customers/outbox")).text

    viewer, password = await tenant.add_admin("read_only")
    async with browser_session(app) as ro:
        ro_csrf = await portal_login(ro, viewer.email, password)
        listing = await ro.get("/customers")
        assert "John&#39;s Pizza" in listing.text
        assert "Create wholesale customer" not in listing.text
        assert (await ro.get("/customers/new")).status_code == 403
        assert (await post(ro, ro_csrf, f"{page_url}/delete")).status_code == 403
    assert csrf_of((await client.get("/customers")).text) == csrf
