"""One sign-in page: the email's domain decides where the person goes (issue 5, login routing;
issue 10, no enumeration): a domain an IdP claims goes to that IdP, every other address to the
password form, whether the address has an account or not."""

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


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


async def test_saml_org_user_is_sent_to_the_idp_claiming_the_domain(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    _, user = await make_org(db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id)
    idp = await register_saml(
        client, tenant, saml_idp, for_administrators=False, domains=[_domain(user.email)]
    )
    page = await signin_form(client, user.email)
    link = _continue_link(page)
    assert urlsplit(link).path.startswith("/sso/saml/")
    assert parse_qs(urlsplit(link).query)["idp"] == [idp["id"]]
    start = await client.get(link)
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{saml_idp.base}/sso/redirect?SAMLRequest=")


async def test_oidc_org_user_is_sent_to_the_provider_claiming_the_domain(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    _, user = await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Corp")
    provider = await register_oidc(
        client, tenant, oidc_provider, name="Corp", domains=[_domain(user.email).upper()]
    )
    assert provider["domains"] == [_domain(user.email)]
    link = _continue_link(await signin_form(client, user.email.upper()))
    query = parse_qs(urlsplit(link).query)
    assert query["provider"] == [provider["id"]] and query["login_hint"] == [user.email.upper()]
    start = await client.get(link)
    assert start.headers["location"].startswith(f"{oidc_provider.issuer}/authorize?")


async def test_an_unknown_address_of_a_claimed_domain_is_routed_like_a_known_one(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    _, user = await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Corp")
    await register_oidc(client, tenant, oidc_provider, name="Corp", domains=[_domain(user.email)])
    stranger = f"nobody@{_domain(user.email)}"
    known, unknown = await signin_form(client, user.email), await signin_form(client, stranger)
    assert known.status_code == unknown.status_code == 200
    known_query = parse_qs(urlsplit(_continue_link(known)).query)
    unknown_query = parse_qs(urlsplit(_continue_link(unknown)).query)
    assert urlsplit(_continue_link(known)).path == urlsplit(_continue_link(unknown)).path
    assert known_query["provider"] == unknown_query["provider"]
    assert unknown_query["login_hint"] == [stranger]


async def test_an_sso_org_user_of_an_unclaimed_domain_gets_the_password_form(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    """Without a claimed domain the page cannot tell an SSO user from anybody: the password
    form, as for an unknown address (the organization's IdP is still reached from its link)."""
    await register_oidc(client, tenant, oidc_provider, name="Corp")
    _, user = await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Corp")
    _, gone = await make_org(db, tenant, method="partner_saml", idp_entity_id="https://gone")
    for email in (user.email, gone.email, "nobody@nowhere.example"):
        page = await signin_form(client, email)
        assert page.status_code == 200, email
        assert 'action="/signin/password"' in page.text and "sso-continue" not in page.text


async def test_partner_admin_gets_the_password_form_unless_the_domain_is_claimed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
) -> None:
    plain = await signin_form(client, tenant.admin.email)
    assert 'action="/signin/password"' in plain.text and "sso-continue" not in plain.text
    # An IdP for administrators that claims no domain changes nothing on the page.
    await register_oidc(client, tenant, oidc_provider, name="Staff only", for_administrators=True)
    page = await signin_form(client, tenant.admin.email)
    assert 'action="/signin/password"' in page.text and "Staff only" not in page.text
    # Once one claims the administrators' domain, every address of it goes there.
    idp = await register_saml(
        client,
        tenant,
        saml_idp,
        for_administrators=True,
        displayName="Acme IdP",
        domains=[_domain(tenant.admin.email)],
    )
    page = await signin_form(client, tenant.admin.email)
    assert "Acme IdP" in page.text
    assert parse_qs(urlsplit(_continue_link(page)).query)["idp"] == [idp["id"]]
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
