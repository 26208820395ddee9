"""The portal page Settings → Identity providers (full administrators)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OidcProvider as OidcRow
from partnerhub.models import SamlIdentityProvider
from tests.conftest import portal_login
from tests.factories import Tenant
from tests.sso.conftest import partner_ref
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp

PAGE = "/settings/identity-providers"


async def test_register_and_remove_through_the_page(
    client: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
    db: Database,
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get(PAGE)
    assert page.status_code == 200
    ref = partner_ref(tenant)
    assert f"https://testserver/sso/saml/{ref}/acs" in page.text
    assert f"https://testserver/sso/oidc/{ref}/callback" in page.text
    # SAML: the metadata file uploaded.
    added = await client.post(
        f"{PAGE}/saml",
        data={"csrf_token": csrf, "display_name": "Acme IdP", "for_administrators": "on"},
        files={"metadata_file": ("idp.xml", saml_idp.metadata().encode(), "application/xml")},
    )
    assert added.status_code == 303, added.text
    # OIDC: by name.
    client_reg = oidc_provider.add_client(f"https://testserver/sso/oidc/{ref}/callback")
    added = await client.post(
        f"{PAGE}/oidc",
        data={
            "csrf_token": csrf,
            "name": "Corp",
            "issuer": oidc_provider.issuer,
            "client_id": client_reg.client_id,
            "client_secret": client_reg.client_secret,
        },
    )
    assert added.status_code == 303, added.text
    listing = await client.get(PAGE)
    assert saml_idp.entity_id in listing.text and "Acme IdP" in listing.text
    assert 'data-name="Corp"' in listing.text
    assert client_reg.client_secret not in listing.text
    # A refusal keeps the page and says why.
    bad = await client.post(f"{PAGE}/saml", data={"csrf_token": csrf, "metadata_xml": "<nope"})
    assert bad.status_code == 400 and 'id="idp-error"' in bad.text and "well-formed" in bad.text
    # Remove both.
    async with db.transaction() as session:
        saml_id = (await session.execute(select(SamlIdentityProvider.id))).scalar_one()
        oidc_id = (await session.execute(select(OidcRow.id))).scalar_one()
    for kind, value in (("SAMLIDP", saml_id), ("OIDCIDP", oidc_id)):
        gone = await client.post(
            f"{PAGE}/{ids.encode(kind, value, 'us')}/delete", data={"csrf_token": csrf}
        )
        assert gone.status_code == 303
    async with db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(OidcRow))).scalar_one() == 0


async def test_only_full_administrators_manage_idps(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp, db: Database
) -> None:
    admin, password = await tenant.add_admin("admin")
    csrf = await portal_login(client, admin.email, password)
    page = await client.get(PAGE)
    assert page.status_code == 200 and "Only full administrators" in page.text
    refused = await client.post(
        f"{PAGE}/saml", data={"csrf_token": csrf, "metadata_xml": saml_idp.metadata()}
    )
    assert refused.status_code == 403
    forged = await client.post(f"{PAGE}/saml", data={"csrf_token": "x", "metadata_xml": "<x/>"})
    assert forged.status_code == 403
    async with db.transaction() as session:
        count = await session.execute(select(func.count()).select_from(SamlIdentityProvider))
        assert count.scalar_one() == 0


async def test_page_needs_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get(PAGE)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def test_the_page_claims_email_domains(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
) -> None:
    """The SAML and OIDC forms take the e-mail domains (commas or spaces), the lists show them,
    and a domain another tenant claims is refused on the page with nothing registered."""
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    added = await client.post(
        f"{PAGE}/saml",
        data={"csrf_token": csrf, "domains": "Corp.example, eu.corp.example"},
        files={"metadata_file": ("idp.xml", saml_idp.metadata().encode(), "application/xml")},
    )
    assert added.status_code == 303, added.text
    ref = partner_ref(tenant)
    client_reg = oidc_provider.add_client(f"https://testserver/sso/oidc/{ref}/callback")
    oidc_form = {
        "csrf_token": csrf,
        "name": "Corp",
        "issuer": oidc_provider.issuer,
        "client_id": client_reg.client_id,
        "client_secret": client_reg.client_secret,
        "domains": "staff.example",
    }
    added = await client.post(f"{PAGE}/oidc", data=oidc_form)
    assert added.status_code == 303, added.text
    listing = await client.get(PAGE)
    assert "corp.example, eu.corp.example" in listing.text and "staff.example" in listing.text
    # Another tenant's page: the claimed domain is refused, the form keeps what was typed.
    client.cookies.clear()
    other_csrf = await portal_login(client, other_tenant.admin.email, other_tenant.password)
    refused = await client.post(
        f"{PAGE}/saml",
        data={"csrf_token": other_csrf, "domains": "corp.example"},
        files={"metadata_file": ("idp.xml", saml_idp.metadata().encode(), "application/xml")},
    )
    assert refused.status_code == 409 and 'id="idp-error"' in refused.text
    assert "already claimed" in refused.text
    assert 'id="saml-domains" name="domains" value="corp.example"' in refused.text
    assert "No SAML identity provider yet." in (await client.get(PAGE)).text
