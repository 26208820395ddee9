"""``/v1/partner/identityProviders``: registering SAML IdPs and OIDC providers (hub API)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub import ids, runtime
from partnerhub.db import Database
from partnerhub.models import OidcProvider as OidcRow
from partnerhub.models import SamlIdentityProvider, SsoDomain
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


# --- e-mail domains claimed by an IdP (issue 10, no enumeration at /signin) -------------------


async def _claims(db: Database) -> dict[str, tuple[str, str]]:
    """Every claimed domain → (partner id, IdP id), straight from the table."""
    async with db.transaction() as session:
        rows = (await session.execute(select(SsoDomain))).scalars()
        return {
            r.domain: (str(r.partner_id), str(r.saml_idp_id or r.oidc_provider_id)) for r in rows
        }


async def _saml(
    client: httpx.AsyncClient, token: str, idp: SamlIdp, domains: list[str]
) -> httpx.Response:
    body = {"type": "saml", "metadataXml": idp.metadata(), "domains": domains}
    return await client.post(URL, json=body, headers=bearer(token))


async def test_domains_are_normalized_listed_and_kept_on_put(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp
) -> None:
    token = await tenant.token(ADMIN)
    created = await _saml(
        client, token, saml_idp, [" Corp.Example ", "bücher.example", "corp.example"]
    )
    assert created.status_code == 201, created.text
    idp = created.json()
    assert idp["domains"] == ["corp.example", "xn--bcher-kva.example"]
    got = await client.get(f"{URL}/{idp['id']}", headers=bearer(token))
    assert got.json()["domains"] == idp["domains"]
    listed = await client.get(URL, headers=bearer(token))
    assert [i["domains"] for i in listed.json()["items"]] == [idp["domains"]]
    put = {"type": "saml", "metadataXml": saml_idp.metadata()}
    kept = await client.put(f"{URL}/{idp['id']}", json=put, headers=bearer(token))
    assert kept.status_code == 200 and kept.json()["domains"] == idp["domains"]
    moved = await client.put(
        f"{URL}/{idp['id']}",
        json={**put, "domains": ["corp.example", "new.example"]},
        headers=bearer(token),
    )
    assert moved.status_code == 200 and moved.json()["domains"] == ["corp.example", "new.example"]
    cleared = await client.put(
        f"{URL}/{idp['id']}", json={**put, "domains": []}, headers=bearer(token)
    )
    assert cleared.status_code == 200 and cleared.json()["domains"] == []


async def test_bad_domains_are_refused_and_write_nothing(
    client: httpx.AsyncClient, tenant: Tenant, saml_idp: SamlIdp, db: Database
) -> None:
    token = await tenant.token(ADMIN)
    bad: list[list[Any]] = [
        ["*.corp.example"],
        ["corp"],
        ["user@corp.example"],
        ["a..b.example"],
        ["corp.example."],
        ["x.test"],
        [""],
        ["x" * 300 + ".example"],
        [f"d{n}.example" for n in range(51)],
        [7],
    ]
    for domains in bad:
        answer = await _saml(client, token, saml_idp, domains)
        assert_error(answer, 400, 1003)
        assert "domains" in answer.text, answer.text
    not_a_list = await client.post(
        URL,
        json={"type": "saml", "metadataXml": saml_idp.metadata(), "domains": "corp.example"},
        headers=bearer(token),
    )
    assert_error(not_a_list, 400, 1003)
    assert await _count(db) == 0 and await _claims(db) == {}


async def test_a_domain_is_claimed_by_one_identity_provider_only(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    saml_idp: SamlIdp,
    oidc_provider: OidcProvider,
    db: Database,
) -> None:
    token, other = await tenant.token(ADMIN), await other_tenant.token(ADMIN)
    mine = await _saml(client, token, saml_idp, ["corp.example"])
    assert mine.status_code == 201, mine.text
    before = await _claims(db)
    # Another tenant: refused, in the contract's shape, whatever the case; nothing written.
    taken = await _saml(client, other, saml_idp, ["Corp.Example", "free.example"])
    error = assert_error(taken, 409, 1222)
    assert "corp.example" in str(error["message"]) and "free.example" not in str(error["message"])
    assert await _claims(db) == before
    assert (await client.get(URL, headers=bearer(other))).json()["items"] == []
    # Nor through an IdP it already has (PUT): the IdP keeps what it had.
    theirs = await _saml(client, other, saml_idp, ["theirs.example"])
    assert theirs.status_code == 201, theirs.text
    put = {"type": "saml", "metadataXml": saml_idp.metadata(), "domains": ["corp.example"]}
    grab = await client.put(f"{URL}/{theirs.json()['id']}", json=put, headers=bearer(other))
    assert_error(grab, 409, 1222)
    again = await client.get(f"{URL}/{theirs.json()['id']}", headers=bearer(other))
    assert again.json()["domains"] == ["theirs.example"]
    assert (await _claims(db))["corp.example"] == before["corp.example"]
    # The same tenant's other IdP may not claim it either (one IdP per domain).
    redirect_uri = "https://testserver/sso/oidc/x/callback"
    oidc_client = oidc_provider.add_client(redirect_uri)
    second = await client.post(
        URL,
        json={
            "type": "oidc",
            "name": "Second",
            "issuer": oidc_provider.issuer,
            "clientId": oidc_client.client_id,
            "clientSecret": oidc_client.client_secret,
            "domains": ["corp.example"],
        },
        headers=bearer(token),
    )
    assert_error(second, 409, 1222)
    # Removing the IdP frees its domains.
    assert (
        await client.delete(f"{URL}/{mine.json()['id']}", headers=bearer(token))
    ).status_code == 204
    assert "corp.example" not in await _claims(db)
    grab = await client.put(f"{URL}/{theirs.json()['id']}", json=put, headers=bearer(other))
    assert grab.status_code == 200 and grab.json()["domains"] == ["corp.example"]


async def test_concurrent_claims_of_one_domain_never_both_win(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    saml_idp: SamlIdp,
    db: Database,
) -> None:
    tokens = [await tenant.token(ADMIN), await other_tenant.token(ADMIN)]
    for n in range(6):
        domain = f"race-{n}.example"
        answers = await asyncio.gather(*(_saml(client, t, saml_idp, [domain]) for t in tokens))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 409], [a.text for a in answers]
        assert_error(next(a for a in answers if a.status_code == 409), 409, 1222)
        winner = next(a for a in answers if a.status_code == 201).json()
        assert (await _claims(db))[domain][1] == str(ids.decode("SAMLIDP", winner["id"]))
        for token in tokens:  # free the entity ID for the next round
            for item in (await client.get(URL, headers=bearer(token))).json()["items"]:
                await client.delete(f"{URL}/{item['id']}", headers=bearer(token))
