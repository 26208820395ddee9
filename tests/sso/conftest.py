"""Fixtures for single sign-on: a real SAML IdP and a real OIDC provider on 127.0.0.1.

PartnerHub's public URL is the test client's (``https://testserver``), so the SP's entity ID,
ACS URL and OIDC redirect URI are the addresses the client posts to. The IdPs run on loopback,
which PartnerHub refuses to fetch from unless ``sso_allow_private_addresses`` is set: these
tests set it (one test checks the refusal with it unset).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from partnerhub import ids
from partnerhub.config import Settings
from tests.conftest import bearer
from tests.factories import Tenant
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp, form_of

ADMIN = "partnerhub:admin"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        sso_allow_private_addresses=True,
    )


@pytest.fixture
def saml_idp() -> Iterator[SamlIdp]:
    idp = SamlIdp()
    yield idp
    idp.close()


@pytest.fixture
def oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    yield provider
    provider.close()


@pytest.fixture
async def idp_http() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's side of the conversation with the IdPs (plain HTTP on loopback)."""
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def partner_ref(tenant: Tenant) -> str:
    return ids.encode("PARTNER", tenant.partner.id, "us")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def register_saml(
    client: httpx.AsyncClient,
    tenant: Tenant,
    idp: SamlIdp,
    for_administrators: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Register the IdP (from its metadata URL) and let the IdP trust the partner's SP."""
    token = await tenant.token(ADMIN)
    body = {"type": "saml", "metadataUrl": f"{idp.base}/metadata", **extra}
    body["forAdministrators"] = for_administrators
    response = await client.post("/v1/partner/identityProviders", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    metadata = await client.get(f"/sso/saml/{partner_ref(tenant)}/metadata")
    assert metadata.status_code == 200
    idp.trust_sp(metadata.text)
    return dict(response.json())


async def register_oidc(
    client: httpx.AsyncClient,
    tenant: Tenant,
    provider: OidcProvider,
    name: str = "Corporate OIDC",
    for_administrators: bool = True,
    domains: list[str] | None = None,
) -> dict[str, Any]:
    redirect_uri = f"https://testserver/sso/oidc/{partner_ref(tenant)}/callback"
    oidc_client = provider.add_client(redirect_uri)
    token = await tenant.token(ADMIN)
    response = await client.post(
        "/v1/partner/identityProviders",
        json={
            "type": "oidc",
            "name": name,
            "issuer": provider.issuer,
            "clientId": oidc_client.client_id,
            "clientSecret": oidc_client.client_secret,
            "forAdministrators": for_administrators,
            **({"domains": domains} if domains is not None else {}),
        },
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class SamlRound:
    """One SP-initiated sign-in, stopped where the browser would post the IdP's answer."""

    authn_location: str
    acs_path: str
    fields: dict[str, str]


async def saml_round(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    idp: SamlIdp,
    idp_api_id: str,
    email: str,
    next_url: str = "/customers/templates",
) -> SamlRound:
    start = await client.get(
        f"/sso/saml/{partner_ref(tenant)}/login", params={"idp": idp_api_id, "next": next_url}
    )
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    idp.user_email = email
    page = await idp_http.get(location)
    assert page.status_code == 200, page.text
    action, fields = form_of(page.text)
    assert action == f"https://testserver/sso/saml/{partner_ref(tenant)}/acs"
    return SamlRound(location, path_of(action), fields)


async def oidc_round(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,
    tenant: Tenant,
    provider: OidcProvider,
    provider_api_id: str,
    email: str,
    next_url: str = "/customers/templates",
) -> str:
    """Start an OIDC sign-in and let the provider answer; returns the callback path."""
    start = await client.get(
        f"/sso/oidc/{partner_ref(tenant)}/login",
        params={"provider": provider_api_id, "next": next_url},
    )
    assert start.status_code == 303, start.text
    provider.user_email = email
    answer = await idp_http.get(start.headers["location"])
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    assert callback.startswith(f"https://testserver/sso/oidc/{partner_ref(tenant)}/callback?")
    return path_of(callback)


async def signed_in_as(client: httpx.AsyncClient) -> str | None:
    """The partner administrator the client's portal session belongs to (None: not signed in)."""
    page = await client.get("/settings/administrators")
    if page.status_code != 200:
        return None
    marker = '<span class="who">'
    if marker not in page.text:
        return None
    return page.text.split(marker, 1)[1].split("<", 1)[0].strip()


def refusal_reason(page: httpx.Response) -> str:
    marker = 'data-reason="'
    assert marker in page.text, page.text[:1000]
    return page.text.split(marker, 1)[1].split('"', 1)[0]
