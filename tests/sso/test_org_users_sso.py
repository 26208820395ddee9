"""Users of customer organizations sign in through the IdP their organization's template named
(the organization's authentication snapshot), and only through that one."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from partnerhub.db import Database
from partnerhub.models import Customer, OrgSession
from tests.conftest import assert_error, bearer
from tests.factories import Tenant, make_org
from tests.sso.conftest import (
    ADMIN,
    oidc_round,
    refusal_reason,
    register_oidc,
    register_saml,
    saml_round,
)
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp


async def _org_sessions(db: Database) -> list[OrgSession]:
    async with db.transaction() as session:
        return list((await session.execute(select(OrgSession))).scalars())


async def test_org_user_signs_in_through_the_orgs_saml_idp(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp, for_administrators=False)
    _, user = await make_org(
        db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id, name="Hooli"
    )
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], user.email, "/org")
    answer = await client.post(rnd.acs_path, data=rnd.fields)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/org"
    assert "partnerhub_org_session" in answer.cookies
    (record,) = await _org_sessions(db)
    assert record.org_user_id == user.id and record.data == {"via": "sso"}


async def test_user_of_another_organization_is_refused(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    """The IdP vouches for them, but their organization signs in another way."""
    idp = await register_saml(client, tenant, saml_idp)
    await make_org(db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id)
    _, platform_user = await make_org(db, tenant, method="platform", name="Platformco")
    _, oidc_user = await make_org(
        db, tenant, method="partner_oidc", oidc_idp_name="Corp", name="Oidcco"
    )
    _, foreign_user = await make_org(  # another partner's organization naming the same IdP
        db,
        other_tenant,
        method="partner_saml",
        idp_entity_id=saml_idp.entity_id,
        name="Foreign",
    )
    for user in (platform_user, oidc_user, foreign_user):
        rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], user.email, "/org")
        answer = await client.post(rnd.acs_path, data=rnd.fields)
        assert answer.status_code == 403
        assert refusal_reason(answer) == "unknown_user"
    assert await _org_sessions(db) == []


async def test_organization_being_deleted_cannot_sign_in(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp)
    customer, user = await make_org(
        db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id
    )
    async with db.transaction() as session:
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.status = "deleting"
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], user.email, "/org")
    answer = await client.post(rnd.acs_path, data=rnd.fields)
    assert refusal_reason(answer) == "unknown_user"


async def test_org_user_signs_in_through_the_orgs_oidc_provider(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    oidc_provider: OidcProvider,
    db: Database,
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider, name="Corp")
    _, user = await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Corp")
    _, stranger = await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Other")
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], stranger.email, "/org"
    )
    assert refusal_reason(await client.get(callback)) == "unknown_user"
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], user.email, "/org"
    )
    answer = await client.get(callback)
    assert answer.status_code == 303 and answer.headers["location"] == "/org"
    (record,) = await _org_sessions(db)
    assert record.org_user_id == user.id


async def test_templates_must_name_a_registered_idp_once_there_are_some(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp, oidc_provider: OidcProvider
) -> None:
    from tests.onboarding.test_templates_api import template_body

    token = await tenant.token("partnerhub:templates_write", ADMIN)

    async def create(name: str, auth: dict[str, str]) -> httpx.Response:
        return await client.post(
            "/v1/partner/templates",
            json=template_body(tenant, name=name, authentication=auth),
            headers=bearer(token),
        )

    # No IdP registered yet: a template may name one to be registered later.
    early = await create("Early", {"method": "partner_saml", "idpEntityId": "https://later"})
    assert early.status_code == 201, early.text
    await register_saml(client, tenant, saml_idp)
    await register_oidc(client, tenant, oidc_provider, name="Corp")
    err = assert_error(
        await create("Bad SAML", {"method": "partner_saml", "idpEntityId": "https://unknown"}),
        400,
        1003,
    )
    assert "is not one of this partner's registered SAML identity providers" in str(err["message"])
    err = assert_error(
        await create("Bad OIDC", {"method": "partner_oidc", "oidcIdpName": "Okta"}), 400, 1003
    )
    assert "registered OpenID Connect providers" in str(err["message"])
    ok_saml = await create("SAML", {"method": "partner_saml", "idpEntityId": saml_idp.entity_id})
    assert ok_saml.status_code == 201, ok_saml.text
    ok_oidc = await create("OIDC", {"method": "partner_oidc", "oidcIdpName": "Corp"})
    assert ok_oidc.status_code == 201, ok_oidc.text


async def test_template_edit_does_not_move_organizations_to_another_idp(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    """S9 rule: an organization keeps the authentication of the template it was created from."""
    idp = await register_saml(client, tenant, saml_idp)
    customer, user = await make_org(
        db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id
    )
    async with db.transaction() as session:
        from partnerhub.models import Template

        template = await session.get(Template, customer.template_id)
        assert template is not None
        template.auth_method = "platform"
        template.idp_entity_id = None
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], user.email, "/org")
    assert (await client.post(rnd.acs_path, data=rnd.fields)).status_code == 303
    async with db.transaction() as session:
        count = await session.execute(select(func.count()).select_from(OrgSession))
        assert count.scalar_one() == 1
