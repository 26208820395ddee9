"""The audit log in the portals (issue 13 item 6) and the readable history (issue 12 item 5):
the partner's page, the customer page's history with before/after values, the customer
portal's page, in Italian, filtered; roles and tenants reach only their own rows."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.conftest import csrf_of, portal_login
from tests.factories import Tenant, bearer, give_password, make_customer, make_org
from tests.identity.org.conftest import PASSWORD, password_signin

ITALIAN = {"Accept-Language": "it-IT,it;q=0.9"}


async def italian(client: httpx.AsyncClient, csrf: str) -> None:
    switched = await client.post("/language", data={"csrf_token": csrf, "lang": "it", "next": "/"})
    assert switched.status_code == 303


async def test_partner_audit_page_in_italian_with_filters(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await italian(client, csrf)
    made = await client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": "CI", "scopes": ["partnerhub:templates_read"]},
    )
    assert made.status_code == 200
    page = await client.get("/audit")
    assert page.status_code == 200
    assert '<html lang="it">' in page.text
    assert "Registro attività" in page.text and 'href="/audit"' in page.text
    assert f"{tenant.admin.display_name} ha eseguito l&#39;accesso" in page.text
    assert f"{tenant.admin.display_name} ha creato il token API CI" in page.text
    assert "Token API creato" in page.text and "Accesso eseguito" in page.text
    only_tokens = await client.get("/audit", params={"category": "API_TOKENS"})
    assert "ha creato il token API CI" in only_tokens.text
    assert "ha eseguito l&#39;accesso" not in only_tokens.text
    assert '<option value="API_TOKENS" selected>' in only_tokens.text
    nobody = await client.get("/audit", params={"actor": "nobody-at-all"})
    assert "Ancora nessuna attività registrata." in nobody.text
    by_email = await client.get("/audit", params={"actor": tenant.admin.email.upper()})
    assert "ha eseguito l&#39;accesso" in by_email.text


async def test_sales_administrators_cannot_read_the_log(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    sales, password = await tenant.add_admin("sales")
    await portal_login(client, sales.email, password)
    assert (await client.get("/audit")).status_code == 403


async def test_another_partner_sees_none_of_our_rows(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as theirs:
        await portal_login(theirs, other_tenant.admin.email, other_tenant.password)
        page = await theirs.get("/audit")
        assert other_tenant.admin.email in page.text
        assert tenant.admin.email not in page.text
        # Our customer's page (with its history) is not found for them.
        setup = await make_customer(tenant.db, tenant)
        assert (await theirs.get(f"/customers/{setup.id}")).status_code == 404
        assert (await theirs.get(f"/customers/{setup.id}?category=CUSTOMERS")).status_code == 404


async def test_customer_history_shows_who_changed_what(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    setup = await make_customer(db, tenant, external_id="before-1")
    token = await tenant.token("spark-admin:wholesale_customers_write")
    changed = await client.put(
        f"/v1/wholesale/customers/{setup.id}",
        json={"packages": ["webex_meetings"], "externalId": "after-2"},
        headers=bearer(token),
    )
    assert changed.status_code == 202, changed.text
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await italian(client, csrf)
    page = await client.get(f"/customers/{setup.id}")
    assert page.status_code == 200
    assert "Cronologia" in page.text
    assert "Cliente modificato" in page.text
    assert "Token API test ha modificato il cliente" in page.text  # "API token", translated
    assert "<code>externalId</code>: before-1 → after-2" in page.text
    # catalogue values by their names in the reader's language, never their ids
    assert "<code>status</code>: Provisioning completato → Aggiornamento in corso" in page.text
    assert 'id="provisioning-steps"' in page.text
    # Filtered to sign-ins: the customer has none, the change is not shown.
    logins = await client.get(f"/customers/{setup.id}", params={"category": "LOGINS"})
    assert "Cliente modificato" not in logins.text
    assert "Ancora nessuna attività registrata." in logins.text
    # The partner's own log does not mix in the customer's rows.
    own = await client.get("/audit")
    assert "Cliente modificato" not in own.text


async def test_customer_portal_audit_page(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    customer, admin = await make_org(db, tenant, name="Hooli")
    await give_password(db, admin)
    victim = OrgUser(
        id=uuid.uuid4(),
        partner_id=customer.partner_id,
        customer_id=customer.id,
        org_id=customer.org_id,
        email=f"plain-{uuid.uuid4().hex[:6]}@hooli.example",
        roles=[],
        package="webex_meetings",
        status="provisioned",
    )
    async with db.transaction() as session:
        session.add(victim)
    client.headers.update(ITALIAN)
    wrong = await password_signin(client, admin.email, "not-the-password")
    assert wrong.status_code == 401
    signed = await password_signin(client, admin.email, PASSWORD)
    assert signed.status_code == 303, signed.text
    ref = ids.encode("CUSTOMER", customer.id, "us")
    users = await client.get(f"/org/{ref}/users")
    csrf = csrf_of(users.text)
    uid = ids.encode("PEOPLE", victim.id, "us")
    made = await client.post(
        f"/org/{ref}/administrators/{uid}",
        data={"csrf_token": csrf, "roles": "read_only_admin"},
    )
    assert made.status_code == 303
    page = await client.get(f"/org/{ref}/audit")
    assert page.status_code == 200
    assert "Registro attività" in page.text
    assert "Org User ha eseguito l&#39;accesso" in page.text
    assert f"Un accesso come {admin.email} è stato rifiutato" in page.text
    assert f"Org User ha modificato i ruoli di amministratore di {victim.email}" in page.text
    assert "<code>roles</code>: — → Amministratore in sola lettura" in page.text
    assert "read_only_admin" not in page.text
    # Another organization of the same partner: its portal page is not found for this user.
    other, _ = await make_org(db, tenant, name="Initech")
    other_ref = ids.encode("CUSTOMER", other.id, "us")
    assert (await client.get(f"/org/{other_ref}/audit")).status_code == 404


async def test_a_sales_administrator_reads_no_customers_log_in_either_portal(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """The audit scope (``audit:events_read``) is the full, ordinary and read-only
    administrators' and not sales': the API refuses a sales token; a customer page's History and
    the customer portal's Audit log, where a partner administrator acts, hold to it too."""
    setup = await make_customer(db, tenant, external_id="before-1")
    token = await tenant.token("spark-admin:wholesale_customers_write")
    changed = await client.put(
        f"/v1/wholesale/customers/{setup.id}",
        json={"packages": ["webex_meetings"], "externalId": "after-2"},
        headers=bearer(token),
    )
    assert changed.status_code == 202, changed.text
    row = "API token test"
    for role, reads in (("read_only", True), ("sales", False)):
        admin, password = await tenant.add_admin(role)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as own:
            await portal_login(own, admin.email, password)
            page = await own.get(f"/customers/{setup.id}")
            assert page.status_code == 200
            assert (row in page.text) == reads, role
            assert ("before-1 → after-2" in page.text) == reads, role
            inside = await own.get(f"/org/{setup.id}/audit")
            assert inside.status_code == (200 if reads else 403), role
            assert (row in inside.text) == reads, role
