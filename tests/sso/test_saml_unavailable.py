"""Without the ``xmlsec1`` program partner SAML is unavailable: said plainly, never a 500.

PartnerHub never installs system packages (docs/identity.md, "Partner SAML needs xmlsec1"):
here ``PARTNERHUB_XMLSEC1`` points at a program that does not exist. The test IdP keeps its
own xmlsec1 (a test-only tool). The start-up line of ``serve`` is checked on a real process in
``tests/app/test_process_life.py``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from partnerhub.config import Settings
from partnerhub.sso import saml
from tests.conftest import bearer
from tests.factories import Tenant
from tests.sso.conftest import ADMIN, partner_ref
from tests.sso.saml_idp import SamlIdp

MISSING = "/nonexistent/bin/xmlsec1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        sso_allow_private_addresses=True,
        xmlsec1=MISSING,
    )


async def test_saml_pages_answer_503_when_xmlsec1_is_missing(
    saml_idp: SamlIdp, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    reason = saml.unavailable_reason()
    assert reason is not None
    assert "xmlsec1" in reason and MISSING in reason and "apt-get install xmlsec1" in reason

    # Registering the IdP is configuration: it works, and sign-in works once xmlsec1 is there.
    token = await tenant.token(ADMIN)
    body = {"type": "saml", "metadataUrl": f"{saml_idp.base}/metadata", "forAdministrators": True}
    created = await client.post("/v1/partner/identityProviders", json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    idp_id = created.json()["id"]

    ref = partner_ref(tenant)
    metadata = await client.get(f"/sso/saml/{ref}/metadata")
    assert metadata.status_code == 503, metadata.text
    assert "xmlsec1 program is not installed" in metadata.text
    login = await client.get(f"/sso/saml/{ref}/login", params={"idp": idp_id})
    assert login.status_code == 503, login.text
    assert "Partner SAML single sign-on is unavailable" in login.text
    assert "text/html" in login.headers["content-type"]
    # The API around it still answers (it never needs xmlsec1).
    listed = await client.get("/v1/partner/identityProviders", headers=bearer(token))
    assert listed.status_code == 200 and listed.json()["items"][0]["id"] == idp_id
