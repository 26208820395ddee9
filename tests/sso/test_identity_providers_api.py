"""``/v1/partner/identityProviders``: registering SAML IdPs and OIDC providers (hub API)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub import runtime
from partnerhub.db import Database
from partnerhub.models import OidcProvider as OidcRow
from partnerhub.models import SamlIdentityProvider
from tests.conftest import assert_error, bearer
from tests.factories import Tenant, make_org
from tests.sso.conftest import ADMIN, register_oidc, register_saml
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp

URL = "/v1/partner/identityProviders"


class _Handler(BaseHTTPRequestHandler):
    body = b""
    hang = False

    def do_GET(self) -> None:
        if self.server.hang:  # type: ignore[attr-defined]
            self.server.release.wait(10)  # type: ignore[attr-defined]
            return
        payload = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[ThreadingHTTPServer]:
    """A local web server whose answer the test sets (``body``) or that never answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.body = b""  # type: ignore[attr-defined]
    server.hang = False  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


async def _count(db: Database) -> int:
    async with db.transaction() as session:
        saml = await session.execute(select(func.count()).select_from(SamlIdentityProvider))
        oidc = await session.execute(select(func.count()).select_from(OidcRow))
        return int(saml.scalar_one()) + int(oidc.scalar_one())


async def test_register_saml_idp_from_uploaded_metadata(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp
) -> None:
    token = await tenant.token(ADMIN)
    response = await client.post(
        URL,
        json={
            "type": "saml",
            "metadataXml": saml_idp.metadata(),
            "displayName": "Acme Okta",
            "emailAttribute": "mail",
        },
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"https://testserver{URL}/{body['id']}"
    assert body["type"] == "saml"
    assert body["entityId"] == saml_idp.entity_id
    assert body["ssoUrl"] == f"{saml_idp.base}/sso/redirect"
    assert body["ssoBinding"] == "redirect"
    assert body["wantAuthnRequestsSigned"] is False
    assert body["metadataUrl"] is None and body["metadataFetched"] is None
    (cert,) = body["signingCertificates"]
    assert cert["subject"] == "CN=Test IdP" and len(cert["sha256"].split(":")) == 32
    assert body["emailAttribute"] == "mail" and body["displayName"] == "Acme Okta"
    sp = body["serviceProvider"]
    assert sp["acsUrl"].startswith("https://testserver/sso/saml/") and sp["acsUrl"].endswith("/acs")
    assert sp["entityId"] == sp["metadataUrl"]
    fetched = await client.get(response.headers["Location"], headers=bearer(token))
    assert fetched.json() == body
    listed = await client.get(URL, headers=bearer(token))
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]


async def test_register_saml_idp_from_metadata_url_and_refresh(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp
) -> None:
    body = await register_saml(client, tenant, saml_idp)
    assert body["metadataUrl"] == f"{saml_idp.base}/metadata"
    assert body["metadataFetched"] is not None
    # The IdP starts asking for signed requests; a PUT with the URL fetches it again.
    saml_idp.want_authn_requests_signed = True
    token = await tenant.token(ADMIN)
    again = await client.put(
        f"{URL}/{body['id']}",
        json={"type": "saml", "metadataUrl": f"{saml_idp.base}/metadata"},
        headers=bearer(token),
    )
    assert again.status_code == 200, again.text
    assert again.json()["wantAuthnRequestsSigned"] is True
    assert again.json()["forAdministrators"] is False  # full replacement


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"type": "saml"}, 400, 1002, "metadataXml or metadataUrl"),
        ({"type": "saml", "metadataXml": "<not-closed"}, 400, 1003, "not well-formed"),
        (
            {"type": "saml", "metadataXml": '<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>'},
            400,
            1003,
            "DTDs or entities",
        ),
        (
            {
                "type": "saml",
                "metadataXml": '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"'
                ' entityID="https://sp.example"><SPSSODescriptor protocolSupportEnumeration='
                '"urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>',
            },
            400,
            1003,
            "no SAML 2.0 identity provider",
        ),
        ({"type": "saml", "metadataUrl": "file:///etc/passwd"}, 400, 1003, "only http and https"),
        ({"type": "saml", "metadataUrl": "https://u:p@idp.example/md"}, 400, 1003, "passwords"),
        ({"type": "saml", "metadataUrl": "gopher://idp.example/md"}, 400, 1003, "only http"),
        ({"type": "saml", "name": "x", "metadataUrl": "https://x"}, 400, 1003, "name: is not"),
        ({"type": "oidc"}, 400, 1002, "name: is required"),
        (
            {"type": "oidc", "name": "N", "issuer": "https://i", "clientId": "c"},
            400,
            1002,
            "clientSecret: is required",
        ),
        (
            {
                "type": "oidc",
                "name": "N",
                "issuer": "ftp://i",
                "clientId": "c",
                "clientSecret": "s",
            },
            400,
            1003,
            "issuer",
        ),
        ({"type": "ldap"}, 400, 1003, "type"),
        ({"type": "oidc", "metadataXml": "<x/>"}, 400, 1003, "metadataXml: is not a field"),
    ],
)
async def test_registration_refusals(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    body: dict[str, Any],
    status: int,
    code: int,
    words: str,
) -> None:
    token = await tenant.token(ADMIN)
    response = await client.post(URL, json=body, headers=bearer(token))
    err = assert_error(response, status, code)
    assert words in str(err["message"]), err
    assert await _count(db) == 0


async def test_metadata_url_fetch_is_restricted(
    client: httpx.AsyncClient, tenant: Tenant, web: ThreadingHTTPServer, saml_idp: SamlIdp
) -> None:
    token = await tenant.token(ADMIN)
    url = f"http://127.0.0.1:{web.server_port}/metadata"
    settings = runtime.settings()

    async def register() -> httpx.Response:
        return await client.post(
            URL, json={"type": "saml", "metadataUrl": url}, headers=bearer(token)
        )

    # Loopback and private addresses are refused unless explicitly allowed.
    settings.sso_allow_private_addresses = False
    try:
        err = assert_error(await register(), 400, 1003)
        assert "not a public address" in str(err["message"])
    finally:
        settings.sso_allow_private_addresses = True
    # Larger than the cap.
    web.body = saml_idp.metadata().encode()  # type: ignore[attr-defined]
    settings.sso_metadata_max_bytes = 200
    try:
        err = assert_error(await register(), 400, 1003)
        assert "larger than 200 bytes" in str(err["message"])
    finally:
        settings.sso_metadata_max_bytes = 1024 * 1024
    # A server that does not answer in time.
    web.hang = True  # type: ignore[attr-defined]
    settings.sso_fetch_timeout_seconds = 0.5
    try:
        err = assert_error(await register(), 400, 1003)
        assert "did not answer in time" in str(err["message"])
    finally:
        web.hang = False  # type: ignore[attr-defined]
        settings.sso_fetch_timeout_seconds = 10
    # Nothing listening at all.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    response = await client.post(
        URL,
        json={"type": "saml", "metadataUrl": f"http://127.0.0.1:{closed}/md"},
        headers=bearer(token),
    )
    assert "could not be fetched" in str(assert_error(response, 400, 1003)["message"])
    # And the same server answering normally is accepted.
    assert (await register()).status_code == 201


async def test_duplicate_registrations_conflict(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp, oidc_provider: OidcProvider
) -> None:
    await register_saml(client, tenant, saml_idp)
    token = await tenant.token(ADMIN)
    again = await client.post(
        URL, json={"type": "saml", "metadataXml": saml_idp.metadata()}, headers=bearer(token)
    )
    assert "already registered" in str(assert_error(again, 409, 1220)["message"])
    await register_oidc(client, tenant, oidc_provider, name="Okta")
    twice = await client.post(
        URL,
        json={
            "type": "oidc",
            "name": "Okta",
            "issuer": oidc_provider.issuer,
            "clientId": "c",
            "clientSecret": "s",
        },
        headers=bearer(token),
    )
    assert_error(twice, 409, 1220)


async def test_oidc_registration_checks_discovery(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    token = await tenant.token(ADMIN)
    base = {"type": "oidc", "name": "Corp", "clientId": "c", "clientSecret": "s"}
    # The discovery document names another issuer.
    wrong = await client.post(
        URL,
        json={
            **base,
            "issuer": oidc_provider.issuer + "/other",
            "discoveryUrl": oidc_provider.issuer + "/.well-known/openid-configuration",
        },
        headers=bearer(token),
    )
    assert "is not the registered issuer" in str(assert_error(wrong, 400, 1003)["message"])
    missing = await client.post(
        URL, json={**base, "issuer": oidc_provider.issuer + "/nothing-here"}, headers=bearer(token)
    )
    assert "HTTP 404" in str(assert_error(missing, 400, 1003)["message"])
    assert await _count(db) == 0
    ok = await client.post(
        URL, json={**base, "issuer": oidc_provider.issuer}, headers=bearer(token)
    )
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert body["discoveryUrl"] == oidc_provider.issuer + "/.well-known/openid-configuration"
    assert body["scopes"] == "openid email profile"
    assert body["redirectUri"].endswith("/callback")


async def test_oidc_update_keeps_the_secret_unless_given(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider, db: Database
) -> None:
    body = await register_oidc(client, tenant, oidc_provider)
    async with db.transaction() as session:
        before = bytes(
            (await session.execute(select(OidcRow))).scalar_one().client_secret_encrypted
        )
    token = await tenant.token(ADMIN)
    changed = await client.put(
        f"{URL}/{body['id']}",
        json={
            "type": "oidc",
            "name": "Renamed",
            "issuer": oidc_provider.issuer,
            "clientId": body["clientId"],
            "scopes": "openid email",
        },
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Renamed" and changed.json()["scopes"] == "openid email"
    async with db.transaction() as session:
        after = bytes((await session.execute(select(OidcRow))).scalar_one().client_secret_encrypted)
    assert after == before
    kind = await client.put(
        f"{URL}/{body['id']}", json={"type": "saml", "metadataXml": "<x/>"}, headers=bearer(token)
    )
    assert "cannot change" in str(assert_error(kind, 400, 1003)["message"])


async def test_scope_and_tenant_isolation(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
) -> None:
    saml = await register_saml(client, tenant, saml_idp)
    oidc = await register_oidc(client, tenant, oidc_provider)
    reader = await tenant.token(
        "partnerhub:templates_read", "spark-admin:wholesale_customers_write"
    )
    assert_error(await client.get(URL, headers=bearer(reader)), 403, 1300)
    assert_error(await client.get(f"{URL}/{saml['id']}", headers=bearer(reader)), 403, 1300)
    assert_error(await client.post(URL, json={"type": "saml"}, headers=bearer(reader)), 403, 1300)
    assert_error(await client.delete(f"{URL}/{oidc['id']}", headers=bearer(reader)), 403, 1300)
    assert_error(await client.get(URL), 401, 1500)
    other = await other_tenant.token(ADMIN)
    for item in (saml, oidc):
        assert_error(await client.get(f"{URL}/{item['id']}", headers=bearer(other)), 404, 1100)
        assert_error(await client.delete(f"{URL}/{item['id']}", headers=bearer(other)), 404, 1100)
        put = await client.put(
            f"{URL}/{item['id']}", json={"type": item["type"]}, headers=bearer(other)
        )
        assert_error(put, 404, 1100)
    assert (await client.get(URL, headers=bearer(other))).json() == {"items": []}
    assert_error(await client.get(f"{URL}/nonsense", headers=bearer(other)), 404, 1100)


async def test_delete_refused_while_a_template_or_organization_uses_it(
    client: httpx.AsyncClient,
    tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
    db: Database,
) -> None:
    token = await tenant.token(ADMIN)
    saml = await register_saml(client, tenant, saml_idp)
    oidc = await register_oidc(client, tenant, oidc_provider, name="Corp")
    await make_org(db, tenant, method="partner_saml", idp_entity_id=saml_idp.entity_id)
    err = assert_error(await client.delete(f"{URL}/{saml['id']}", headers=bearer(token)), 409, 1221)
    assert "1 template(s) and 1 customer organization(s)" in str(err["message"])
    await make_org(db, tenant, method="partner_oidc", oidc_idp_name="Corp")
    assert_error(await client.delete(f"{URL}/{oidc['id']}", headers=bearer(token)), 409, 1221)
    # Renaming it while in use is refused the same way.
    rename = await client.put(
        f"{URL}/{oidc['id']}",
        json={"type": "oidc", "name": "New", "issuer": oidc_provider.issuer, "clientId": "x"},
        headers=bearer(token),
    )
    assert_error(rename, 409, 1221)
    assert await _count(db) == 2
    # An unused one goes.
    spare = await register_oidc(client, tenant, oidc_provider, name="Spare")
    assert (await client.delete(f"{URL}/{spare['id']}", headers=bearer(token))).status_code == 204
    assert_error(await client.get(f"{URL}/{spare['id']}", headers=bearer(token)), 404, 1100)


async def test_list_paginates(
    client: httpx.AsyncClient, tenant: Tenant, oidc_provider: OidcProvider
) -> None:
    for n in range(3):
        await register_oidc(client, tenant, oidc_provider, name=f"P{n}")
    token = await tenant.token(ADMIN)
    first = await client.get(URL, params={"max": 2}, headers=bearer(token))
    assert [i["name"] for i in first.json()["items"]] == ["P0", "P1"]
    link = first.headers["Link"]
    assert link.startswith("<https://testserver") and 'rel="next"' in link
    nxt = link[1 : link.index(">")]
    second = await client.get(nxt, headers=bearer(token))
    assert [i["name"] for i in second.json()["items"]] == ["P2"]
    assert "Link" not in second.headers
    assert_error(await client.get(URL, params={"max": 0}, headers=bearer(token)), 400, 1003)
