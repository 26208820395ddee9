"""One sign-in page: the email decides where the person goes (issue 5, login routing)."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import httpx

from partnerhub.db import Database
from tests.conftest import csrf_of
from tests.factories import Tenant, make_org
from tests.identity.org.conftest import password_signin, signin_form
from tests.sso.conftest import register_oidc, register_saml
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp


def _continue_link(page: httpx.Response) -> str:
    assert 'id="sso-continue"' in page.text, page.text[:1500]
    anchor = page.text.split('id="sso-continue" href="', 1)[1]
    return html.unescape(anchor.split('"', 1)[0])


async def test_platform_user_and_unknown_email_get_the_same_password_form(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant)
    known = await signin_form(client, user.email)
    unknown = await signin_form(client, "nobody@nowhere.example")
    for page in (known, unknown):
        assert page.status_code == 200
        assert 'action="/signin/password"' in page.text
        assert "Or sign in with" not in page.text


async def test_saml_org_user_is_sent_to_the_orgs_idp(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp, for_administrators=False)
    _, user = await make_org(db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id)
    page = await signin_form(client, user.email)
    link = _continue_link(page)
    assert urlsplit(link).path.startswith("/sso/saml/")
    assert parse_qs(urlsplit(link).query)["idp"] == [idp["id"]]
    start = await client.get(link)
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{saml_idp.base}/sso/redirect?SAMLRequest=")


async def test_oidc_org_user_is_sent_to_the_orgs_provider(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider, name="Corp")
    _, user = await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Corp")
    link = _continue_link(await signin_form(client, user.email))
    query = parse_qs(urlsplit(link).query)
    assert query["provider"] == [provider["id"]] and query["login_hint"] == [user.email]
    start = await client.get(link)
    assert start.headers["location"].startswith(f"{oidc_provider.issuer}/authorize?")


async def test_org_whose_idp_is_not_registered_gets_a_clear_page(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant, method="partner_saml", idp_entity_id="https://gone")
    page = await signin_form(client, user.email)
    assert page.status_code == 403 and 'data-reason="idp_missing"' in page.text


async def test_partner_admin_gets_password_and_the_partners_admin_sso(
    client: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
) -> None:
    plain = await signin_form(client, tenant.admin.email)
    assert 'action="/signin/password"' in plain.text and "Or sign in with" not in plain.text
    await register_saml(client, tenant, saml_idp, for_administrators=True, displayName="Acme IdP")
    await register_oidc(client, tenant, oidc_provider, name="Staff only", for_administrators=False)
    page = await signin_form(client, tenant.admin.email)
    assert "Or sign in with" in page.text and "Acme IdP" in page.text
    assert "Staff only" not in page.text
    # The password still works, and opens the partner portal.
    signed = await password_signin(client, tenant.admin.email, tenant.password, "/settings/tokens")
    assert signed.status_code == 303 and signed.headers["location"] == "/settings/tokens"
    assert (await client.get("/settings/tokens")).status_code == 200


async def test_wrong_partner_admin_password(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await password_signin(client, tenant.admin.email, "wrong wrong wrong")
    assert answer.status_code == 401 and "Wrong email or password" in answer.text


async def test_forms_need_their_csrf_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.get("/signin")
    for path, data in (
        ("/signin", {"email": tenant.admin.email}),
        ("/signin/password", {"email": tenant.admin.email, "password": tenant.password}),
        ("/signin/forgot", {"email": tenant.admin.email}),
    ):
        answer = await client.post(path, data={**data, "csrf_token": "forged"})
        assert answer.status_code == 403, path
    page = await client.get("/signin")
    ok = await client.post(
        "/signin/password",
        data={
            "csrf_token": csrf_of(page.text),
            "email": tenant.admin.email,
            "password": tenant.password,
        },
    )
    assert ok.status_code == 303


async def test_login_page_offers_the_email_first_sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert 'href="/signin' in page.text
