"""Customer pages (S13-S19) as the seed walks them: Customers → Actions → "Create wholesale
customer"; the wizard's refusals (no supported-location confirmation, an add-on without its
base package, a bad HQ phone number) keep what was typed; CSRF on every customers form; another
partner's template and customers are out of reach; the Italian pages use the seed's words."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from partnerhub import ids
from partnerhub.db import Database
from tests.conftest import portal_login
from tests.customers.portal.helpers import post, scalar, unescape
from tests.factories import Tenant, create_template, make_customer
from tests.portal.helpers import browser_session
from tests.portal.test_i18n import switch_to_italian

WIZ = "/customers/wizard"
HQ = {
    "location_name": "Sede",
    "address_line1": "Via Roma 1",
    "city": "Milano",
    "state": "MI",
    "postal_code": "20121",
    "timezone": "Europe/Rome",
    "language": "it_IT",
}


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


def field_error(html: str, name: str) -> str | None:
    import re

    match = re.search(rf'id="{name}-error"[^>]*>([^<]*)<', html)
    return unescape(match.group(1)) if match else None


async def customers_count(db: Database) -> int:
    return int(await scalar(db, "SELECT count(*) FROM customers"))


async def test_actions_menu(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/customers")
    menu = page.text.split('<details class="menu" id="customer-actions">', 1)[1]
    menu = menu.split("</details>", 1)[0]
    assert ">Actions</summary>" in menu
    assert '<a href="/customers/new">Create wholesale customer</a>' in menu
    assert '<a href="/customers/templates">Onboarding templates</a>' in menu
    viewer, password = await tenant.add_admin("read_only")
    async with browser_session(app) as ro:
        await portal_login(ro, viewer.email, password)
        listing = await ro.get("/customers")
        assert ">Actions</summary>" in listing.text
        assert "Create wholesale customer" not in listing.text


async def test_wizard_refusals_keep_what_was_typed(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    template = await create_template(client, tenant)
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    assert (await client.get("/customers/new")).headers["location"] == f"{WIZ}/customer"
    # Next refuses without "I verify that this customer is in a supported location"
    fields = customer_fields(template)
    del fields["supported"]
    refused = await post(client, csrf, f"{WIZ}/customer", fields)
    assert refused.status_code == 400
    assert field_error(refused.text, "supported") == (
        "Confirm that this customer is in a supported location"
    )
    assert 'value="crm-77"' in refused.text
    assert (await client.get(f"{WIZ}/packages")).headers["location"] == f"{WIZ}/customer"
    ok = await post(client, csrf, f"{WIZ}/customer", customer_fields(template))
    assert ok.headers["location"] == f"{WIZ}/packages"

    # An add-on without its base package: refused, the dependency explained inline
    page = await client.get(f"{WIZ}/packages")
    assert "Add-on: needs one of Webex Calling, Webex Suite, Customer Assist" in page.text
    refused = await post(
        client,
        csrf,
        f"{WIZ}/packages",
        [("packages", "webex_meetings"), ("packages", "attendant_console")],
    )
    assert refused.status_code == 400
    assert field_error(refused.text, "packages") == (  # the API's ids become product names
        "Packages: Attendant Console needs one of Webex Calling, Webex Suite, Customer Assist"
    )
    assert 'value="attendant_console" checked' in refused.text
    ok = await post(
        client,
        csrf,
        f"{WIZ}/packages",
        [("packages", "webex_calling"), ("packages", "attendant_console")],
    )
    assert ok.headers["location"] == f"{WIZ}/location"

    # HQ phone numbers are optional; a number of another country is refused
    page = await client.get(f"{WIZ}/location")
    assert "Phone numbers (optional)" in page.text
    refused = await post(client, csrf, f"{WIZ}/location", {**HQ, "numbers": "+14155550100"})
    assert refused.status_code == 400
    assert field_error(refused.text, "numbers") == (
        "Phone numbers: +14155550100 is not a number of the country Italy"
    )
    assert "+14155550100</textarea>" in refused.text
    ok = await post(
        client, csrf, f"{WIZ}/location", {**HQ, "numbers": "+390212345601, +390212345602"}
    )
    assert ok.headers["location"] == f"{WIZ}/summary"
    summary = await client.get(f"{WIZ}/summary")
    assert "+390212345601, +390212345602" in summary.text
    assert await customers_count(db) == 0
    created = await post(client, csrf, f"{WIZ}/summary")
    assert created.status_code == 303, created.text
    async with db.transaction() as session:
        params = (
            await session.execute(text("SELECT provisioning_parameters FROM customers"))
        ).scalar_one()
    assert params["calling"]["location"]["numbers"] == ["+390212345601", "+390212345602"]


async def test_every_customers_form_needs_the_csrf_token(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    template = await create_template(client, tenant)
    setup = await make_customer(db, tenant)
    cid = ids.encode("CUSTOMER", setup.customer.id, "us")
    await portal_login(client, tenant.admin.email, tenant.password)
    await client.get("/customers/new")
    forms = {
        f"{WIZ}/customer": customer_fields(template),
        f"{WIZ}/packages": {"packages": "webex_meetings"},
        f"{WIZ}/location": HQ,
        f"{WIZ}/summary": {},
        f"/customers/{cid}/packages": {"packages": "webex_meetings"},
        f"/customers/{cid}/delete": {},
        f"/customers/{cid}/approve": {},
    }
    for url, fields in forms.items():
        for token in (None, "forged"):
            data = fields if token is None else {**fields, "csrf_token": token}
            answer = await client.post(url, data=data)
            assert answer.status_code == 403, (url, token)
    status, packages = (
        await _row(db, "SELECT status, packages FROM customers WHERE id = :i", i=setup.customer.id)
    )[0]
    assert status == "provisioned"
    assert packages == ["webex_calling", "webex_meetings", "webex_suite"]
    assert await customers_count(db) == 1


async def _row(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.execute(text(sql), params)).all())


async def test_another_partners_template_and_customer_are_out_of_reach(
    app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await create_template(client, other_tenant)
    setup = await make_customer(db, other_tenant)
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await client.get("/customers/new")
    page = await client.get(f"{WIZ}/customer")
    assert theirs["provisioningId"] not in page.text
    refused = await post(client, csrf, f"{WIZ}/customer", customer_fields(theirs))
    assert refused.status_code == 400
    assert field_error(refused.text, "template") == "Choose an onboarding template"
    cid = ids.encode("CUSTOMER", setup.customer.id, "us")
    assert setup.customer.name not in (await client.get("/customers")).text
    for url in (f"/customers/{cid}", f"/customers/{cid}/status", f"/customers/{cid}/setup"):
        assert (await client.get(url)).status_code == 404, url
    assert (await client.get("/customers/not-an-id")).status_code == 404


async def test_italian_pages_use_the_seeds_words(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    await create_template(client, tenant)
    setup = await make_customer(db, tenant)
    cid = ids.encode("CUSTOMER", setup.customer.id, "us")
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await switch_to_italian(client, csrf, "/customers")
    listing = (await client.get("/customers")).text
    for words in ("Clienti", "Azioni", "Crea cliente all&#39;ingrosso", "Modelli di onboarding"):
        assert words in listing, words
    await client.get("/customers/new")
    wizard = (await client.get(f"{WIZ}/customer")).text
    for words in (
        "Informazioni cliente",
        "Nome azienda",
        "Email amministratore",
        "ID cliente esterno",
        "Paese",
        "Verifico che questo cliente si trova in una posizione supportata",
        "Pacchetti e componenti aggiuntivi",
        "Posizione della sede centrale",
        "Riepilogo",
        "Avanti",
    ):
        assert words in wizard, words
    detail = (await client.get(f"/customers/{cid}")).text
    assert "Imposta cliente" in detail
    assert "Aggiungi utenti" in (await client.get(f"/customers/{cid}/setup")).text
    add = (await client.get(f"/org/{cid}/users/add-wholesale")).text
    for words in ("Aggiungi utenti (vendita all&#39;ingrosso)", "Nome", "Cognome"):
        assert words in add, words
    assert "Indirizzo email" in add and "Pacchetto" in add
