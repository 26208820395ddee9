"""The actions the first audit table missed: identity providers (SAML, OIDC: the client secret
only as changed), webhooks (create, change, re-activate, test event, delete: the secret only as
changed) and an administrator's unlock, recorded with their actor in the partner's log, in
English through the API and in Italian on the portal page."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from partnerhub.models import Webhook
from tests.audit.conftest import AUDIT_READ, audit_events, partner_org, window
from tests.billing.conftest import BASE, WRITE
from tests.billing.test_reports_api import LAST, body
from tests.conftest import csrf_of, portal_login
from tests.factories import SUB_WRITE, Setup, Tenant, bearer
from tests.identity.org.conftest import (  # noqa: F401 - the SSO fixtures and settings
    oidc_provider,
    saml_idp,
    settings,
)
from tests.sso.conftest import register_oidc
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp
from tests.subscribers.conftest import setup  # noqa: F401 - a provisioned customer

IDPS = "/v1/partner/identityProviders"


def by_action(response: httpx.Response) -> dict[str, list[dict[str, Any]]]:
    assert response.status_code == 200, response.text
    out: dict[str, list[dict[str, Any]]] = {}
    for item in response.json()["items"]:
        out.setdefault(item["data"]["action"], []).append(item["data"])
    return out


async def test_identity_provider_changes_are_recorded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,  # noqa: F811
    oidc_provider: OidcProvider,  # noqa: F811
) -> None:
    token = await tenant.token("partnerhub:admin")
    saml = await client.post(
        IDPS,
        json={"type": "saml", "metadataXml": saml_idp.metadata(), "displayName": "Corp SAML"},
        headers=bearer(token),
    )
    assert saml.status_code == 201, saml.text
    put = await client.put(
        f"{IDPS}/{saml.json()['id']}",
        json={
            "type": "saml",
            "metadataXml": saml_idp.metadata(),
            "displayName": "Corporate SAML",
            "domains": ["corp.example"],
        },
        headers=bearer(token),
    )
    assert put.status_code == 200, put.text
    assert (
        await client.delete(f"{IDPS}/{saml.json()['id']}", headers=bearer(token))
    ).status_code == 204
    oidc = await register_oidc(client, tenant, oidc_provider, name="Corp OIDC")
    rotated = await client.put(
        f"{IDPS}/{oidc['id']}",
        json={
            "type": "oidc",
            "name": "Corp OIDC",
            "issuer": oidc_provider.issuer,
            "clientId": oidc["clientId"],
            "clientSecret": "a-brand-new-client-secret",
            "forAdministrators": True,
        },
        headers=bearer(token),
    )
    assert rotated.status_code == 200, rotated.text

    got = by_action(await audit_events(client, await tenant.token(AUDIT_READ), partner_org(tenant)))
    created = {row["targetName"]: row for row in got["idp.create"]}
    assert set(created) == {"Corp SAML", "Corp OIDC"}
    assert created["Corp OIDC"]["changes"]["clientSecret"] == ["(changed)", "(changed)"]
    assert created["Corp SAML"]["eventCategory"] == "SETTINGS"
    assert (
        created["Corp SAML"]["actionText"] == "API token test added the identity provider Corp SAML"
    )
    updates = {row["targetName"]: row["changes"] for row in got["idp.update"]}
    assert updates["Corporate SAML"] == {
        "displayName": ["Corp SAML", "Corporate SAML"],
        "domains": [[], ["corp.example"]],
    }
    assert updates["Corp OIDC"] == {"clientSecret": ["(changed)", "(changed)"]}
    assert "a-brand-new-client-secret" not in str(got)
    [removed] = got["idp.delete"]
    assert removed["targetName"] == "Corporate SAML"
    assert removed["changes"]["entityId"][1] is None


async def test_webhook_actions_are_recorded(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    made = await client.post(
        "/v1/webhooks",
        json={
            "name": "Billing hook",
            "targetUrl": "https://hooks.example.com/in",
            "resource": "wholesaleCustomers",
            "event": "all",
            "secret": "a-webhook-secret-1",
        },
        headers=bearer(token),
    )
    assert made.status_code == 200, made.text
    hook = made.json()["id"]
    async with db.transaction() as session:  # as the delivery worker deactivates it
        await session.execute(update(Webhook).values(status="inactive"))
    changed = await client.put(
        f"/v1/webhooks/{hook}",
        json={
            "name": "Billing hook",
            "targetUrl": "https://hooks.example.com/v2",
            "secret": "a-webhook-secret-2",
            "status": "active",
        },
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert (
        await client.post(f"/v1/webhooks/{hook}/test", headers=bearer(token))
    ).status_code == 202
    assert (await client.delete(f"/v1/webhooks/{hook}", headers=bearer(token))).status_code == 204

    got = by_action(await audit_events(client, await tenant.token(AUDIT_READ), partner_org(tenant)))
    [created] = got["webhook.create"]
    assert created["targetName"] == "Billing hook" and created["targetId"] == hook
    assert created["changes"]["secret"] == ["(changed)", "(changed)"]
    assert created["changes"]["targetUrl"] == [None, "https://hooks.example.com/in"]
    [updated] = got["webhook.update"]
    assert updated["changes"] == {
        "secret": ["(changed)", "(changed)"],
        "status": ["inactive", "active"],
        "targetUrl": ["https://hooks.example.com/in", "https://hooks.example.com/v2"],
    }
    [test_row] = got["webhook.test"]
    assert test_row["actionText"] == "API token test sent a test event to the webhook Billing hook"
    assert len(got["webhook.delete"]) == 1
    assert "a-webhook-secret" not in str(got)


async def test_unlocking_an_administrator_is_recorded_and_shown_in_italian(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    other, _password = await tenant.add_admin("admin")
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/settings/administrators")
    unlocked = await client.post(
        f"/settings/administrators/{other.id}/unlock",
        data={"csrf_token": csrf_of(page.text)},
    )
    assert unlocked.status_code == 303, unlocked.text
    switched = await client.post("/language", data={"csrf_token": csrf, "lang": "it", "next": "/"})
    assert switched.status_code == 303
    audit_page = await client.get("/audit", params={"category": "ADMINISTRATORS"})
    assert "Amministratore sbloccato" in audit_page.text
    assert f"ha sbloccato l&#39;amministratore {other.email}" in audit_page.text


async def test_billing_reports_requested_and_deleted_are_recorded(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """The request's row is written by the report's own statement: a refused duplicate (409)
    writes neither report nor row (tests/billing/test_statement_budget.py keeps the count)."""
    token = await tenant.token(WRITE)
    made = await client.post(BASE, json=body(), headers=bearer(token))
    assert made.status_code == 200, made.text
    rows = await client.get(
        "/v1/adminAudit/events",
        params={"orgId": partner_org(tenant), **window(), "eventCategories": "BILLING"},
        headers=bearer(await tenant.token(AUDIT_READ)),
    )
    assert len(rows.json()["items"]) == 1
    duplicate = await client.post(BASE, json=body(), headers=bearer(token))
    assert duplicate.status_code == 409
    gone = await client.delete(f"{BASE}/{made.json()['id']}", headers=bearer(token))
    assert gone.status_code == 204

    got = by_action(await audit_events(client, await tenant.token(AUDIT_READ), partner_org(tenant)))
    [requested] = got["billing.report_create"]
    [deleted] = got["billing.report_delete"]
    assert requested["targetId"] == deleted["targetId"] == made.json()["id"]
    assert requested["eventCategory"] == "BILLING"
    assert requested["targetName"] == f"PARTNER {body()['billingStartDate']} – {LAST}"
    assert requested["actionText"].startswith("API token test requested the billing report")
    assert requested["trackingId"] and requested["actorIp"]


async def test_a_subscriber_import_is_recorded_in_the_customers_log(
    client: httpx.AsyncClient,
    tenant: Tenant,
    setup: Setup,  # noqa: F811
) -> None:
    token = await tenant.token(SUB_WRITE)
    url = f"/v1/partner/customers/{setup.id}/imports"
    text = "email,package\nimported@imp.example,webex_meetings\n"
    dry = await client.post(url, json={"csv": text, "dryRun": True}, headers=bearer(token))
    assert dry.status_code == 200, dry.text
    started = await client.post(url, json={"csv": text}, headers=bearer(token))
    assert started.status_code == 202, started.text
    got = by_action(await audit_events(client, await tenant.token(AUDIT_READ), setup.org))
    [row] = got["import.create"]  # the dry run is not an action
    assert row["eventCategory"] == "USERS"
    assert row["targetId"] == started.json()["id"]
    assert row["targetName"] == (setup.customer.name or setup.customer.external_id)
    assert row["actionText"].startswith("API token test started an import of subscribers")


async def test_portal_location_and_number_changes_are_recorded_not_the_tokens(
    client: httpx.AsyncClient,
    tenant: Tenant,
    setup: Setup,  # noqa: F811
) -> None:
    """A partner administrator's location and number changes in the portal are in the
    customer's log; the same requests by an API token (the wholesale provisioning path) are
    not (docs/audit.md)."""
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    form = {
        "csrf_token": csrf,
        "name": "Milan office",
        "address1": "Via Roma 1",
        "city": "Milano",
        "state": "MI",
        "postal_code": "20121",
        "country": "IT",
        "time_zone": "Europe/Rome",
        "preferred_language": "it_IT",
    }
    made = await client.post(f"/customers/{setup.id}/locations/new", data=form)
    assert made.status_code == 303, made.text
    added = await client.post(
        f"/customers/{setup.id}/setup/numbers",
        data={"csrf_token": csrf, "location": setup.hq_id, "numbers": "+14155550090"},
    )
    assert added.status_code == 303, added.text
    token = await tenant.token(*ALL_SCOPES)
    by_token = await client.post(
        "/v1/locations",
        json={
            "orgId": setup.org,
            "name": "Rome office",
            "timeZone": "Europe/Rome",
            "preferredLanguage": "it_IT",
            "announcementLanguage": "it_IT",
            "address": {
                "address1": "Via Po 2",
                "city": "Roma",
                "state": "RM",
                "postalCode": "00100",
                "country": "IT",
            },
        },
        headers=bearer(token),
    )
    assert by_token.status_code == 201, by_token.text

    got = by_action(await audit_events(client, await tenant.token(AUDIT_READ), setup.org))
    [location] = got["location.create"]
    assert location["targetName"] == "Milan office"
    assert location["actorEmail"] == tenant.admin.email
    assert location["changes"]["city"] == [None, "Milano"]
    [numbers] = got["numbers.add"]
    assert numbers["targetName"] == (setup.hq.name if setup.hq else "")
    assert "Rome office" not in str(got)


async def test_installation_assistance_requests_are_recorded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    setup: Setup,  # noqa: F811
) -> None:
    from partnerhub.assistance.service import WRITE as ASSISTANCE_WRITE

    url = f"/v1/partner/customers/{setup.id}/installationRequests"
    body = {"contactName": "Carla Rossi", "contactEmail": "carla@customer.example"}
    token = await tenant.token(ASSISTANCE_WRITE)
    created = await client.post(url, json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    got = by_action(await audit_events(client, await tenant.token(AUDIT_READ), setup.org))
    [row] = got["assistance.request"]
    assert row["eventCategory"] == "CUSTOMERS"
    assert row["changes"] == {"status": [None, "submitted"]}
    assert row["actionText"].startswith("API token test requested installation assistance")
