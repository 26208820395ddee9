"""SP-initiated SAML sign-in against a real pysaml2 IdP over HTTP (no mocks of pysaml2).

The IdP answers with the auto-posting form a browser would submit; the test submits it to
PartnerHub's ACS with the same client (cookies included), as the browser would.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub.db import Database
from partnerhub.models import PortalSession, SamlAssertion, SsoRequest
from partnerhub.models.base import utcnow
from partnerhub.sso.repository import SignInRepository
from tests.factories import Tenant, make_tenant
from tests.sso.conftest import (
    partner_ref,
    refusal_reason,
    register_saml,
    saml_round,
    signed_in_as,
)
from tests.sso.saml_idp import SamlIdp, form_of


async def _sessions(db: Database) -> int:
    async with db.transaction() as session:
        stmt = (
            select(func.count())
            .select_from(PortalSession)
            .where(PortalSession.admin_id.is_not(None))
        )
        return int((await session.execute(stmt)).scalar_one())


async def test_partner_admin_signs_in_through_the_partners_saml_idp(
    client: httpx.AsyncClient, idp_http: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp
) -> None:
    idp = await register_saml(client, tenant, saml_idp)
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    # The AuthnRequest went to the IdP's redirect endpoint, unsigned (this IdP does not ask).
    query = parse_qs(urlsplit(rnd.authn_location).query)
    assert "SAMLRequest" in query and "Signature" not in query
    answer = await client.post(rnd.acs_path, data=rnd.fields)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/customers/templates"
    assert await signed_in_as(client) == tenant.admin.email


async def test_signed_authn_request_when_the_idp_wants_it(
    client: httpx.AsyncClient, idp_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    strict = SamlIdp(want_authn_requests_signed=True)
    try:
        idp = await register_saml(client, tenant, strict)
        assert idp["wantAuthnRequestsSigned"] is True
        rnd = await saml_round(client, idp_http, tenant, strict, idp["id"], tenant.admin.email)
        # Redirect binding: the signature is in the query string, and the IdP verified it
        # against the SP certificate of the published metadata (or it would have refused).
        query = parse_qs(urlsplit(rnd.authn_location).query)
        assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
        assert query["Signature"]
        answer = await client.post(rnd.acs_path, data=rnd.fields)
        assert answer.status_code == 303
        assert await signed_in_as(client) == tenant.admin.email
        # An unsigned request is refused by that IdP: the signature above was needed.
        unsigned = rnd.authn_location.split("&SigAlg=")[0]
        refused = await idp_http.get(unsigned)
        assert refused.status_code == 400 and "IncorrectlySigned" in refused.text
    finally:
        strict.close()


@dataclass(frozen=True)
class Refusal:
    """A completed sign-in round the ACS refuses: who the IdP vouches for, what changed."""

    reason: str
    email: str = "admin"  # "admin": the partner's own; "other admin": another partner's
    for_administrators: bool = True
    clock_offset_minutes: int = 0
    other_sp_audience: bool = False  # the assertion names another partner's SP
    forge_email: bool = False  # the email in the signed response rewritten to the admin's
    page_says: str = ""  # "{email}": the address the IdP vouched for
    unknown: bool = False  # no account of any kind has that address, before or after


REFUSALS = {
    "admin of another partner": Refusal(
        "unknown_user", email="other admin", page_says="never created"
    ),
    "unknown user, not created": Refusal(
        "unknown_user", email="stranger@acme.example", page_says="{email}", unknown=True
    ),
    "IdP not open to administrators": Refusal("unknown_user", for_administrators=False),
    # Issued 20 minutes ago with a 5-minute lifetime (as if it sat in a browser that long).
    "expired assertion": Refusal("expired", clock_offset_minutes=-20),
    # The IdP also serves another partner's SP; its assertion for that SP (audience) is
    # posted to this partner's ACS.
    "assertion for another service provider": Refusal("audience", other_sp_audience=True),
    # An attacker signed in as someone unknown rewrites the email to the administrator's.
    "tampered response": Refusal("signature", email="mallory@evil.example", forge_email=True),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
async def test_refused_sign_in(
    case: Refusal,
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    email = {
        "admin": tenant.admin.email,
        "other admin": (await make_tenant(db, "Globex")).admin.email,
    }.get(case.email, case.email)
    if case.other_sp_audience:
        other = await make_tenant(db, "Initech")
        await register_saml(client, other, saml_idp)
        saml_idp.audience = f"https://testserver/sso/saml/{partner_ref(other)}/metadata"
    idp = await register_saml(client, tenant, saml_idp, for_administrators=case.for_administrators)
    saml_idp.clock_offset_minutes = case.clock_offset_minutes
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], email)
    fields = rnd.fields
    if case.forge_email:
        xml = base64.b64decode(rnd.fields["SAMLResponse"]).decode()
        assert email in xml
        forged = xml.replace(email, tenant.admin.email)
        fields = {**rnd.fields, "SAMLResponse": base64.b64encode(forged.encode()).decode()}
    answer = await client.post(rnd.acs_path, data=fields)
    assert answer.status_code == 403
    assert refusal_reason(answer) == case.reason
    assert case.page_says.format(email=email) in answer.text
    assert await signed_in_as(client) is None
    assert await _sessions(db) == 0
    if case.unknown:
        async with db.transaction() as session:
            repo = SignInRepository(session)
            assert await repo.admin_by_email(email) is None
            assert await repo.org_user_by_email(email) is None


async def test_replayed_response_is_refused(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp)
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    first = await client.post(rnd.acs_path, data=rnd.fields)
    assert first.status_code == 303
    # The same response posted again (from the same browser, or captured and replayed).
    client.cookies.delete("partnerhub_session")
    again = await client.post(rnd.acs_path, data=rnd.fields)
    assert again.status_code == 403
    assert refusal_reason(again) == "replayed"
    assert await signed_in_as(client) is None
    assert await _sessions(db) == 1
    # The accepted assertion's ID is on record until after it expires (second line of defence).
    async with db.transaction() as session:
        rows = list((await session.execute(select(SamlAssertion))).scalars())
        assert len(rows) == 1 and rows[0].expires > utcnow()
        assert not await SignInRepository(session).consume_assertion(
            rows[0].saml_idp_id, rows[0].assertion_id, rows[0].expires
        )


async def test_response_from_another_browser_is_refused(
    app: object,
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
) -> None:
    """A response obtained by one browser and posted from another (login CSRF) is refused."""
    idp = await register_saml(client, tenant, saml_idp)
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as victim:
        answer = await victim.post(rnd.acs_path, data=rnd.fields)
        assert answer.status_code == 403
        assert refusal_reason(answer) == "browser"
        assert await signed_in_as(victim) is None


async def test_unsolicited_response_is_refused(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp)
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    xml = base64.b64decode(rnd.fields["SAMLResponse"]).decode()
    # Posted to another partner's ACS: that partner never started this sign-in.
    other_acs = rnd.acs_path.replace(
        partner_ref(tenant), partner_ref(await make_tenant(db, "Umbrella"))
    )
    answer = await client.post(other_acs, data=rnd.fields)
    assert answer.status_code == 403
    assert refusal_reason(answer) == "unsolicited"
    assert "InResponseTo" in xml
    assert await signed_in_as(client) is None
    # Refusing it there did not use up the attempt of the partner that started it.
    assert (await client.post(rnd.acs_path, data=rnd.fields)).status_code == 303
    assert await signed_in_as(client) == tenant.admin.email


async def test_garbage_is_a_clear_refusal_not_an_error(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    acs = f"/sso/saml/{partner_ref(tenant)}/acs"
    for value in ("", "not base64 at all", base64.b64encode(b"<notsaml/>").decode()):
        answer = await client.post(acs, data={"SAMLResponse": value})
        assert answer.status_code == 400, answer.text
        assert refusal_reason(answer) == "malformed"
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    answer = await client.post(acs, data={"SAMLResponse": base64.b64encode(bomb).decode()})
    assert refusal_reason(answer) == "malformed"
    assert (await client.post("/sso/saml/nonsense/acs", data={})).status_code == 404


async def test_sp_metadata_is_published_per_partner(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = await client.get(f"/sso/saml/{partner_ref(tenant)}/metadata")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/samlmetadata+xml")
    entity = f"https://testserver/sso/saml/{partner_ref(tenant)}/metadata"
    assert f'entityID="{entity}"' in first.text
    assert f'Location="https://testserver/sso/saml/{partner_ref(tenant)}/acs"' in first.text
    assert 'AuthnRequestsSigned="true"' in first.text
    assert "X509Certificate" in first.text
    # The key pair is made once and kept; each partner has its own.
    again = await client.get(f"/sso/saml/{partner_ref(tenant)}/metadata")
    assert again.text == first.text
    other = await client.get(f"/sso/saml/{partner_ref(other_tenant)}/metadata")
    assert other.status_code == 200 and other.text != first.text
    assert (await client.get("/sso/saml/bm9wZQ/metadata")).status_code == 404


async def test_an_attempt_expires(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp)
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    async with db.transaction() as session:  # the user took longer than the attempt lasts
        for row in (await session.execute(select(SsoRequest))).scalars():
            row.expires = utcnow()
    answer = await client.post(rnd.acs_path, data=rnd.fields)
    assert refusal_reason(answer) == "request_expired"
    assert await signed_in_as(client) is None


async def test_post_binding_idp(
    client: httpx.AsyncClient, idp_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """An IdP that takes AuthnRequests only by HTTP-POST, and wants them signed: PartnerHub
    answers with a form (allowed by its CSP to post there) carrying a signed request."""
    post_only = SamlIdp(want_authn_requests_signed=True, redirect=False)
    try:
        idp = await register_saml(client, tenant, post_only)
        assert idp["ssoBinding"] == "post"
        start = await client.get(
            f"/sso/saml/{partner_ref(tenant)}/login",
            params={"idp": idp["id"], "next": "/settings/tokens"},
        )
        assert start.status_code == 200
        assert f"form-action 'self' {post_only.base}" in start.headers["content-security-policy"]
        action, fields = form_of(start.text)
        assert action == f"{post_only.base}/sso/post" and "data-autopost" in start.text
        assert b"SignatureValue" in base64.b64decode(fields["SAMLRequest"])
        post_only.user_email = tenant.admin.email
        page = await idp_http.post(action, data=fields)
        assert page.status_code == 200, page.text
        acs, answer_fields = form_of(page.text)
        answer = await client.post(acs.removeprefix("https://testserver"), data=answer_fields)
        assert answer.status_code == 303 and answer.headers["location"] == "/settings/tokens"
        assert await signed_in_as(client) == tenant.admin.email
    finally:
        post_only.close()


async def test_email_from_the_configured_attribute(
    client: httpx.AsyncClient, idp_http: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp
) -> None:
    """The IdP identifies users by an opaque NameID and sends the email in its own attribute."""
    idp = await register_saml(client, tenant, saml_idp, emailAttribute="workEmail")
    saml_idp.name_id = "u-123456"
    saml_idp.attributes = {"workEmail": [tenant.admin.email], "mail": ["someone@else.example"]}
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    answer = await client.post(rnd.acs_path, data=rnd.fields)
    assert answer.status_code == 303, answer.text
    assert await signed_in_as(client) == tenant.admin.email


async def test_no_email_in_the_response_is_refused(
    client: httpx.AsyncClient, idp_http: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp
) -> None:
    idp = await register_saml(client, tenant, saml_idp)
    saml_idp.name_id = "u-123456"
    saml_idp.attributes = {"displayName": ["Ada"]}
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    answer = await client.post(rnd.acs_path, data=rnd.fields)
    assert refusal_reason(answer) == "no_email"
    assert await signed_in_as(client) is None
