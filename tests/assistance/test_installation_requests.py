"""Installation assistance requests (S27): the optional form on the customer's set-up page,
stored with a status a partner administrator changes, emailed to the partner's support address
(or only stored in the outbox when it has none); the hub API; CSRF and tenant isolation."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import text

from partnerhub.db import Database
from tests.conftest import assert_error, bearer, portal_login
from tests.customers.portal.helpers import post
from tests.factories import Setup, Tenant, make_tenant

FORM = {
    "contact_name": "Carla Rossi",
    "contact_email": "carla@customer.example",
    "phone": "+39 02 1234 5678",
    "preferred_dates": "2026-12-01 or 2026-12-03, mornings",
    "sites": "Milan HQ\nTurin branch",
    "notes": "Two floors, 40 desk phones",
}
READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"


async def rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        return [dict(r._mapping) for r in await session.execute(text(sql), params)]


async def requests_of(db: Database, setup: Setup) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT id, contact_name, contact_email, phone, preferred_dates, sites, notes, status "
        "FROM installation_requests WHERE customer_id = :c ORDER BY created",
        c=setup.customer.id,
    )


async def mails_of(db: Database, setup: Setup) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT kind, to_address, subject, body_text, status FROM outbox_emails "
        "WHERE customer_id = :c AND kind = 'installation_request'",
        c=setup.customer.id,
    )


async def set_support_email(client: httpx.AsyncClient, csrf: str, tenant: Tenant, to: str) -> None:
    response = await post(
        client,
        csrf,
        "/settings/partner",
        {"name": tenant.partner.name, "pstn_providers": "", "support_email": to},
    )
    assert response.status_code == 303, response.text
    page = await client.get("/settings/partner")
    assert f'name="support_email" type="email" value="{to}"' in page.text


async def test_request_is_stored_emailed_and_its_status_changed(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await set_support_email(client, csrf, tenant, "support@partner.example")
    page = await client.get(f"/customers/{setup.id}/setup")
    assert f'action="/customers/{setup.id}/setup/assistance"' in page.text

    response = await post(client, csrf, f"/customers/{setup.id}/setup/assistance", FORM)
    assert response.status_code == 303
    stored = await requests_of(db, setup)
    assert len(stored) == 1
    assert stored[0]["contact_name"] == "Carla Rossi"
    assert stored[0]["contact_email"] == "carla@customer.example"
    assert stored[0]["phone"] == "+390212345678"
    assert stored[0]["sites"] == "Milan HQ\nTurin branch"
    assert stored[0]["status"] == "submitted"

    mails = await mails_of(db, setup)
    assert len(mails) == 1
    assert mails[0]["to_address"] == "support@partner.example"
    assert "Installation assistance requested" in mails[0]["subject"]
    assert "Carla Rossi <carla@customer.example>" in mails[0]["body_text"]
    assert "Two floors, 40 desk phones" in mails[0]["body_text"]

    shown = await client.get(response.headers["location"])
    assert 'id="assistance-notice"' in shown.text
    match = re.search(r'data-request="([^"]+)"', shown.text)
    assert match
    ref = match.group(1)
    assert '<option value="submitted" selected>' in shown.text

    for status in ("in_progress", "done"):
        changed = await post(
            client, csrf, f"/customers/{setup.id}/setup/assistance/{ref}/status", {"status": status}
        )
        assert changed.status_code == 303
        assert (await requests_of(db, setup))[0]["status"] == status
    again = await client.get(f"/customers/{setup.id}/setup")
    assert '<option value="done" selected>' in again.text

    refused = await post(
        client, csrf, f"/customers/{setup.id}/setup/assistance/{ref}/status", {"status": "lost"}
    )
    assert refused.status_code == 400
    assert (await requests_of(db, setup))[0]["status"] == "done"


async def test_italian_email_and_page(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await set_support_email(client, csrf, tenant, "support@partner.example")
    await post(client, csrf, "/language", {"lang": "it", "next": "/"})
    page = await client.get(f"/customers/{setup.id}/setup")
    assert "Assistenza all&#39;installazione" in page.text
    assert "Richiedi assistenza all&#39;installazione (facoltativo)" in page.text
    assert "Importa utenti da un file CSV" in page.text
    await post(client, csrf, f"/customers/{setup.id}/setup/assistance", FORM)
    mails = await mails_of(db, setup)
    assert mails[0]["subject"].startswith("Richiesta di assistenza")


async def test_without_support_address_the_request_is_only_stored(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    response = await post(client, csrf, f"/customers/{setup.id}/setup/assistance", FORM)
    assert response.status_code == 303
    assert len(await requests_of(db, setup)) == 1
    mails = await mails_of(db, setup)
    assert len(mails) == 1
    assert mails[0]["status"] == "stored"
    assert mails[0]["to_address"] == tenant.admin.email


async def test_bad_input_is_shown_and_nothing_stored(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    bad = {**FORM, "contact_name": "", "contact_email": "not-an-email", "phone": "12"}
    response = await post(client, csrf, f"/customers/{setup.id}/setup/assistance", bad)
    assert response.status_code == 400
    assert 'id="assistance-error"' in response.text
    # each problem next to its field, in the portal's words (no wire names)
    assert 'id="contact_name-error"' in response.text
    assert "Contact name: this field is required" in response.text
    assert "Contact email: &#39;not-an-email&#39; is not a valid email address" in response.text
    assert "Phone: &#39;12&#39; is not a valid phone number" in response.text
    assert "contactEmail" not in response.text
    assert await requests_of(db, setup) == []
    assert await mails_of(db, setup) == []


async def test_csrf_is_required(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    response = await post(client, "forged", f"/customers/{setup.id}/setup/assistance", FORM)
    assert response.status_code == 403
    assert await requests_of(db, setup) == []


async def test_another_partner_gets_404(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await post(client, csrf, f"/customers/{setup.id}/setup/assistance", FORM)
    shown = await client.get(f"/customers/{setup.id}/setup")
    match = re.search(r'data-request="([^"]+)"', shown.text)
    assert match
    other = await make_tenant(db, "Other")
    async with httpx.AsyncClient(
        transport=client._transport, base_url="https://testserver"
    ) as stranger:
        other_csrf = await portal_login(stranger, other.admin.email, other.password)
        url = f"/customers/{setup.id}/setup/assistance"
        assert (await post(stranger, other_csrf, url, FORM)).status_code == 404
        status_url = f"{url}/{match.group(1)}/status"
        assert (await post(stranger, other_csrf, status_url, {"status": "done"})).status_code == 404
    assert [r["status"] for r in await requests_of(db, setup)] == ["submitted"]
    token = await other.token(READ, WRITE)
    api = f"/v1/partner/customers/{setup.id}/installationRequests"
    assert_error(await client.get(api, headers=bearer(token)), 404, 1100)


async def test_hub_api(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    url = f"/v1/partner/customers/{setup.id}/installationRequests"
    body = {
        "contactName": "Carla Rossi",
        "contactEmail": "carla@customer.example",
        "preferredDates": "next week",
    }
    reader = await tenant.token(READ)
    assert_error(await client.post(url, json=body, headers=bearer(reader)), 403, 1300)
    writer = await tenant.token(WRITE)
    created = await client.post(url, json=body, headers=bearer(writer))
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["status"] == "submitted"
    assert out["contactName"] == "Carla Rossi"
    listed = await client.get(url, headers=bearer(reader))
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [out["id"]]
    missing = await client.post(url, json={"contactEmail": "x@y.example"}, headers=bearer(writer))
    assert_error(missing, 400, 1002)
    assert len(await requests_of(db, setup)) == 1
