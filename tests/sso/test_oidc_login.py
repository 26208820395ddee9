"""OpenID Connect sign-in against a real Authlib authorization server over HTTP.

The provider redirects back to the callback; the test follows that redirect with the same
client (cookies included), as the browser would.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from partnerhub.db import Database
from partnerhub.models import OidcProvider as OidcProviderRow
from partnerhub.models import SsoRequest
from partnerhub.sso.service import state_key
from tests.factories import Tenant, make_tenant
from tests.sso.conftest import (
    oidc_round,
    partner_ref,
    refusal_reason,
    register_oidc,
    signed_in_as,
)
from tests.sso.oidc_provider import OidcProvider


async def test_partner_admin_signs_in_through_the_partners_oidc_provider(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    oidc_provider: OidcProvider,
    db: Database,
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider)
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], tenant.admin.email
    )
    # Authorization code flow with PKCE (S256), state and nonce.
    sent = oidc_provider.authorize_requests[-1]
    assert sent["response_type"] == "code"
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) >= 43
    assert sent["state"] and sent["nonce"]
    assert "openid" in sent["scope"].split()
    async with db.transaction() as session:
        row = (await session.execute(select(SsoRequest))).scalar_one()
        assert row.request_key == state_key(sent["state"])  # only the state's hash is kept
        assert row.nonce == sent["nonce"]
    answer = await client.get(callback)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/customers/templates"
    assert await signed_in_as(client) == tenant.admin.email


async def test_wrong_state_is_refused(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    oidc_provider: OidcProvider,
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider)
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], tenant.admin.email
    )
    parts = urlsplit(callback)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for state in ("forged-state", ""):
        answer = await client.get(f"{parts.path}?{urlencode({**params, 'state': state})}")
        assert answer.status_code == 403
        assert refusal_reason(answer) in ("unsolicited", "state")
        assert await signed_in_as(client) is None
    answer = await client.get(f"{parts.path}?{urlencode({'code': params['code']})}")
    assert refusal_reason(answer) == "state"
    # The genuine callback still works (a forged one did not use it up) — once.
    assert (await client.get(callback)).status_code == 303
    assert await signed_in_as(client) == tenant.admin.email
    client.cookies.delete("partnerhub_session")
    replay = await client.get(callback)
    assert refusal_reason(replay) == "replayed"
    assert await signed_in_as(client) is None


# A completed round whose answer the callback refuses: (what the provider does, the reason).
REFUSALS = {
    "nonce of another sign-in": ({"nonce_override": "a-nonce-from-another-sign-in"}, "nonce"),
    "ID token for another client": ({"audience_override": "some-other-client"}, "audience"),
    "expired ID token": ({"expires_in": -600}, "expired"),
    # Same kid, a key that is not in the JWKS.
    "ID token not signed by the provider's keys": ({"sign_with_rogue_key": True}, "signature"),
    "unverified email": ({"email_verified": False}, "email_unverified"),
    "unknown user": ({"user": "nobody@acme.example"}, "unknown_user"),
    "another partner's administrator": ({"user": "other admin"}, "unknown_user"),
}


@pytest.mark.parametrize(("provider_does", "reason"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_refused_sign_in(
    provider_does: dict[str, Any],
    reason: str,
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    oidc_provider: OidcProvider,
    db: Database,
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider)
    settings = dict(provider_does)
    email = settings.pop("user", tenant.admin.email)
    if email == "other admin":
        email = (await make_tenant(db, "Globex")).admin.email
    for name, value in settings.items():
        assert hasattr(oidc_provider, name)
        setattr(oidc_provider, name, value)
    callback = await oidc_round(client, idp_http, tenant, oidc_provider, provider["id"], email)
    answer = await client.get(callback)
    assert answer.status_code == 403
    assert refusal_reason(answer) == reason
    assert await signed_in_as(client) is None


async def test_callback_in_another_browser_is_refused(
    app: object,
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    oidc_provider: OidcProvider,
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider)
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], tenant.admin.email
    )
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as victim:
        answer = await victim.get(callback)
        assert refusal_reason(answer) == "browser"
        assert await signed_in_as(victim) is None


async def test_client_secret_is_stored_encrypted_and_never_returned(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider)
    secret = next(iter(oidc_provider.clients.values())).client_secret
    assert provider["clientSecretSet"] is True
    assert "clientSecret" not in provider and secret not in str(provider)
    async with db.transaction() as session:
        row = (await session.execute(select(OidcProviderRow))).scalar_one()
        assert secret.encode() not in bytes(row.client_secret_encrypted)


async def test_provider_unreachable_is_a_clear_page(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider)
    oidc_provider.close()
    answer = await client.get(
        f"/sso/oidc/{partner_ref(tenant)}/login", params={"provider": provider["id"]}
    )
    assert answer.status_code == 403
    assert refusal_reason(answer) == "idp_unavailable"
