"""Partner settings: PSTN providers and offers, which the template wizard and rules use."""

from __future__ import annotations

import httpx

from tests.conftest import assert_error, bearer, portal_login
from tests.factories import Tenant
from tests.onboarding.test_templates_api import template_body

URL = "/v1/partner/settings"


async def test_read_and_replace(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:admin"))
    got = await client.get(URL, headers=token)
    assert got.json() == {
        "name": "Acme",
        "pstnProviders": ["PSTN Co"],
        "offers": {"wholesale": True, "hostedCalling": False},
        "supportEmail": None,
    }
    put = await client.put(
        URL,
        json={
            "name": "Acme Telecom",
            "pstnProviders": [" Tel A ", "Tel B", "tel b", ""],
            "offers": {"hostedCalling": True},
            "supportEmail": " Support@Acme.example ",
        },
        headers=token,
    )
    assert put.status_code == 200, put.text
    assert put.json() == {
        "name": "Acme Telecom",
        "pstnProviders": ["Tel A", "Tel B"],
        "offers": {"wholesale": True, "hostedCalling": True},
        "supportEmail": "support@acme.example",
    }
    bad = await client.put(
        URL, json={"name": "Acme Telecom", "supportEmail": "not-an-address"}, headers=token
    )
    assert_error(bad, 400, 1003)
    # The template rules follow: the new provider and platform calling are now accepted.
    created = await client.post(
        "/v1/partner/templates",
        json=template_body(
            tenant, pstnProvider="Tel B", email={"brandName": "A", "allowPlatformCalling": True}
        ),
        headers=bearer(await tenant.token("partnerhub:templates_write")),
    )
    assert created.status_code == 201, created.text


async def test_provider_in_use_cannot_be_removed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        "/v1/partner/templates",
        json=template_body(tenant, pstnProvider="PSTN Co"),
        headers=bearer(await tenant.token("partnerhub:templates_write")),
    )
    assert created.status_code == 201
    token = bearer(await tenant.token("partnerhub:admin"))
    refused = await client.put(URL, json={"name": "Acme", "pstnProviders": []}, headers=token)
    body = assert_error(refused, 409, 1206)
    assert "PSTN Co" in str(body["message"])
    assert (await client.get(URL, headers=token)).json()["pstnProviders"] == ["PSTN Co"]


async def test_needs_admin_scope_to_change(client: httpx.AsyncClient, tenant: Tenant) -> None:
    reader = bearer(await tenant.token("partnerhub:templates_read"))
    assert (await client.get(URL, headers=reader)).status_code == 200
    assert_error(await client.put(URL, json={"name": "X"}, headers=reader), 403, 1300)
    assert_error(
        await client.get(
            URL, headers=bearer(await tenant.token("spark-admin:wholesale_customers_read"))
        ),
        403,
        1300,
    )


async def test_each_partner_sees_its_own(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await client.put(
        URL,
        json={"name": "Acme", "pstnProviders": ["Only Acme"]},
        headers=bearer(await tenant.token("partnerhub:admin")),
    )
    other = await client.get(URL, headers=bearer(await other_tenant.token("partnerhub:admin")))
    assert other.json()["name"] == "Globex" and other.json()["pstnProviders"] == ["PSTN Co"]


async def test_portal_page_saves_with_csrf(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/settings/partner")
    assert page.status_code == 200 and "PSTN Co" in page.text
    refused = await client.post("/settings/partner", data={"name": "X", "pstn_providers": ""})
    assert refused.status_code == 403
    saved = await client.post(
        "/settings/partner",
        data={
            "csrf_token": csrf,
            "name": "Acme",
            "pstn_providers": "PSTN Co\nNew Tel",
            "hosted_calling": "on",
        },
    )
    assert saved.status_code == 303
    token = bearer(await tenant.token("partnerhub:admin"))
    assert (await client.get(URL, headers=token)).json()["pstnProviders"] == ["PSTN Co", "New Tel"]
