"""Onboarding templates over the API: CRUD, validation, scopes, tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import assert_error, bearer
from tests.factories import Tenant

WRITE = "partnerhub:templates_write"
READ = "partnerhub:templates_read"


def template_body(tenant: Tenant, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "SMB Italy",
        "offer": "wholesale",
        "serviceProviderAdminEmail": tenant.admin.email,
        "country": "IT",
        "defaultEmailLanguage": "it_IT",
        "wholesaleSubscriptionId": "Sub-1234",
        "pstnProvider": None,
        "authentication": {"method": "platform"},
        "email": {"brandName": "Acme Cloud", "allowAdminInviteOnLink": False},
    }
    body.update(overrides)
    return body


async def test_create_get_list_update_delete(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(WRITE)
    created = await client.post(
        "/v1/partner/templates", json=template_body(tenant), headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "SMB Italy"
    assert body["country"] == "IT"
    assert body["defaultEmailLanguage"] == "it_IT"
    assert body["authentication"] == {
        "method": "platform",
        "idpEntityId": None,
        "oidcIdpName": None,
    }
    assert body["email"]["allowPlatformCalling"] is False
    assert body["customerCount"] == 0
    assert len(body["provisioningId"]) == 22
    assert created.headers["Location"].endswith(f"/v1/partner/templates/{body['id']}")

    got = await client.get(f"/v1/partner/templates/{body['id']}", headers=bearer(token))
    assert got.status_code == 200
    assert got.json() == body

    listed = await client.get("/v1/partner/templates", headers=bearer(token))
    assert [t["provisioningId"] for t in listed.json()["items"]] == [body["provisioningId"]]

    changed = await client.put(
        f"/v1/partner/templates/{body['id']}",
        json=template_body(tenant, name="SMB Italia", pstnProvider="PSTN Co"),
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "SMB Italia"
    assert changed.json()["pstnProvider"] == "PSTN Co"
    assert changed.json()["provisioningId"] == body["provisioningId"]

    deleted = await client.delete(f"/v1/partner/templates/{body['id']}", headers=bearer(token))
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/partner/templates/{body['id']}", headers=bearer(token))
    assert_error(gone, 404, 1100)


@pytest.mark.parametrize(
    ("overrides", "status", "code", "needle"),
    [
        ({"name": ""}, 400, 1002, "Template name"),
        ({"name": "   "}, 400, 1002, "Template name"),
        ({"authentication": {"method": "partner_saml"}}, 400, 1002, "IdP entity ID"),
        ({"authentication": {"method": "partner_oidc"}}, 400, 1002, "OpenID Connect IdP name"),
        ({"country": "XX"}, 400, 1003, "Country"),
        ({"country": "ZZ"}, 400, 1003, "Country"),
        ({"defaultEmailLanguage": "xx_YY"}, 400, 1003, "Default email language"),
        ({"serviceProviderAdminEmail": "nobody@else.example"}, 400, 1003, "administrator"),
        ({"wholesaleSubscriptionId": ""}, 400, 1002, "Wholesale subscription"),
        ({"pstnProvider": "Unknown PSTN"}, 400, 1003, "PSTN provider"),
        ({"email": {"brandName": ""}}, 400, 1002, "Brand name"),
        ({"email": {"brandName": "B", "allowPlatformCalling": True}}, 400, 1003, "Platform"),
        ({"offer": "retail"}, 400, 1003, "offer"),
        ({"dataRegion": "MARS"}, 400, 1003, "dataRegion"),
        ({"unknownField": 1}, 400, 1003, "unknownField"),
    ],
)
async def test_refusals_save_nothing(
    client: httpx.AsyncClient,
    tenant: Tenant,
    overrides: dict[str, object],
    status: int,
    code: int,
    needle: str,
) -> None:
    token = await tenant.token(WRITE)
    response = await client.post(
        "/v1/partner/templates", json=template_body(tenant, **overrides), headers=bearer(token)
    )
    body = assert_error(response, status, code)
    assert needle.lower() in str(body["message"]).lower()
    listed = await client.get("/v1/partner/templates", headers=bearer(token))
    assert listed.json()["items"] == []


async def test_required_field_missing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(WRITE)
    body = template_body(tenant)
    del body["name"]
    response = await client.post("/v1/partner/templates", json=body, headers=bearer(token))
    payload = assert_error(response, 400, 1002)
    assert "name" in str(payload["message"])


async def test_saml_and_oidc_keep_their_identifier(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await tenant.token(WRITE)
    saml = await client.post(
        "/v1/partner/templates",
        json=template_body(
            tenant,
            name="SAML",
            authentication={"method": "partner_saml", "idpEntityId": "https://idp.example/saml"},
        ),
        headers=bearer(token),
    )
    assert saml.status_code == 201, saml.text
    assert saml.json()["authentication"]["idpEntityId"] == "https://idp.example/saml"
    oidc = await client.post(
        "/v1/partner/templates",
        json=template_body(
            tenant, name="OIDC", authentication={"method": "partner_oidc", "oidcIdpName": "Okta"}
        ),
        headers=bearer(token),
    )
    assert oidc.status_code == 201, oidc.text
    assert oidc.json()["authentication"] == {
        "method": "partner_oidc",
        "idpEntityId": None,
        "oidcIdpName": "Okta",
    }


async def test_duplicate_name_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(WRITE)
    first = await client.post(
        "/v1/partner/templates", json=template_body(tenant), headers=bearer(token)
    )
    assert first.status_code == 201
    again = await client.post(
        "/v1/partner/templates", json=template_body(tenant, name="smb italy"), headers=bearer(token)
    )
    body = assert_error(again, 409, 1202)
    assert "already exists" in str(body["message"])
    listed = await client.get("/v1/partner/templates", headers=bearer(token))
    assert len(listed.json()["items"]) == 1


async def test_same_name_allowed_for_another_partner(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    a = await client.post(
        "/v1/partner/templates",
        json=template_body(tenant),
        headers=bearer(await tenant.token(WRITE)),
    )
    b = await client.post(
        "/v1/partner/templates",
        json=template_body(other_tenant),
        headers=bearer(await other_tenant.token(WRITE)),
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["provisioningId"] != b.json()["provisioningId"]


async def test_platform_calling_allowed_with_both_offers(
    client: httpx.AsyncClient, db: object
) -> None:
    from tests.conftest import make_tenant

    tenant = await make_tenant(db, "Initech", hosted_calling=True)  # type: ignore[arg-type]
    response = await client.post(
        "/v1/partner/templates",
        json=template_body(tenant, email={"brandName": "Initech", "allowPlatformCalling": True}),
        headers=bearer(await tenant.token(WRITE)),
    )
    assert response.status_code == 201, response.text
    assert response.json()["email"]["allowPlatformCalling"] is True


async def test_read_scope_cannot_create(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(READ)
    response = await client.post(
        "/v1/partner/templates", json=template_body(tenant), headers=bearer(token)
    )
    assert_error(response, 403, 1300)
    assert (await client.get("/v1/partner/templates", headers=bearer(token))).json()["items"] == []


async def test_no_scope_cannot_read(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token("spark-admin:wholesale_customers_read")
    assert_error(await client.get("/v1/partner/templates", headers=bearer(token)), 403, 1300)


async def test_tenant_isolation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await client.post(
        "/v1/partner/templates",
        json=template_body(tenant),
        headers=bearer(await tenant.token(WRITE)),
    )
    tid = created.json()["id"]
    intruder = bearer(await other_tenant.token(WRITE))
    assert (await client.get("/v1/partner/templates", headers=intruder)).json()["items"] == []
    assert_error(await client.get(f"/v1/partner/templates/{tid}", headers=intruder), 404, 1100)
    assert_error(
        await client.put(
            f"/v1/partner/templates/{tid}", json=template_body(other_tenant), headers=intruder
        ),
        404,
        1100,
    )
    assert_error(await client.delete(f"/v1/partner/templates/{tid}", headers=intruder), 404, 1100)
    still = await client.get(
        f"/v1/partner/templates/{tid}", headers=bearer(await tenant.token(READ))
    )
    assert still.status_code == 200


async def test_pagination_link(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(WRITE)
    for i in range(5):
        r = await client.post(
            "/v1/partner/templates", json=template_body(tenant, name=f"T{i}"), headers=bearer(token)
        )
        assert r.status_code == 201
    first = await client.get("/v1/partner/templates?max=2", headers=bearer(token))
    assert [t["name"] for t in first.json()["items"]] == ["T0", "T1"]
    link = first.headers["Link"]
    assert link.startswith("<https://testserver/v1/partner/templates?") and 'rel="next"' in link
    next_url = link[1 : link.index(">")]
    second = await client.get(next_url, headers=bearer(token))
    assert [t["name"] for t in second.json()["items"]] == ["T2", "T3"]
    third = await client.get(
        second.headers["Link"][1 : second.headers["Link"].index(">")], headers=bearer(token)
    )
    assert [t["name"] for t in third.json()["items"]] == ["T4"]
    assert "Link" not in third.headers


async def test_idempotency_key_replays_and_refuses_other_body(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = bearer(await tenant.token(WRITE))
    headers = {**token, "Idempotency-Key": "tpl-1"}
    first = await client.post("/v1/partner/templates", json=template_body(tenant), headers=headers)
    again = await client.post("/v1/partner/templates", json=template_body(tenant), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    listed = await client.get("/v1/partner/templates", headers=token)
    assert len(listed.json()["items"]) == 1
    other = await client.post(
        "/v1/partner/templates", json=template_body(tenant, name="Other"), headers=headers
    )
    assert_error(other, 422, 1403)
    assert len((await client.get("/v1/partner/templates", headers=token)).json()["items"]) == 1
