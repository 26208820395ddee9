"""Issue 10, item 8: outbound fetches (SAML metadata, OIDC discovery, JWKS, token endpoint) are
bounded — no IPv6 disguise of an internal address, no DNS-rebinding window, redirects through
the same guard, one total deadline and a size cap for every fetch.

No packet leaves the machine. The ``net`` fixture (``fakenet.py``) is the network as the process
sees it: a resolver whose answers the test writes (names under ``.idp.test``; any other name
that is not an IP literal does not resolve), and a connect step that reaches **only** loopback:
a connection to a "public" address the test has routed goes to a local server on 127.0.0.1
instead, and any other non-loopback connection fails with "network unreachable" — after being
recorded, so a test sees every address PartnerHub tried to reach.

The registrations go through the real hub API (``POST /v1/partner/identityProviders``) with
``PARTNERHUB_SSO_ALLOW_PRIVATE_ADDRESSES`` off (the default), except where a test says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from partnerhub import runtime
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.models import OidcProvider as OidcRow
from partnerhub.models import SamlIdentityProvider
from tests.conftest import assert_error, bearer
from tests.factories import Tenant
from tests.reliability.trust.fakenet import OTHER_PUBLIC, PUBLIC, Handler, Net, Web, tls_pair

URL = "/v1/partner/identityProviders"
ADMIN = "partnerhub:admin"
SAMPLE_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="https://idp.example.com/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        sso_allow_private_addresses=False,
        sso_fetch_timeout_seconds=1.0,
    )


@pytest.fixture
def metadata_xml() -> str:
    """Valid SAML IdP metadata (a fresh self-signed signing certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return SAMPLE_METADATA.format(cert=base64.b64encode(der).decode())


async def _count(db: Database) -> int:
    async with db.transaction() as session:
        saml = await session.execute(select(func.count()).select_from(SamlIdentityProvider))
        oidc = await session.execute(select(func.count()).select_from(OidcRow))
        return int(saml.scalar_one()) + int(oidc.scalar_one())


async def _register_saml(client: httpx.AsyncClient, tenant: Tenant, url: str) -> httpx.Response:
    token = await tenant.token(ADMIN)
    return await client.post(URL, json={"type": "saml", "metadataUrl": url}, headers=bearer(token))


# --- the address policy ---------------------------------------------------------------------

INTERNAL_IN_IPV6 = [
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
    ("64:ff9b::a00:5", "NAT64 of 10.0.0.5"),
    ("64:ff9b:1::a00:5", "local-use NAT64"),
    ("64:ff9b:1:2::c0a8:101", "local-use NAT64 of 192.168.1.1"),
    ("2002:7f00:1::1", "6to4 of 127.0.0.1"),
    ("2002:a00:5::", "6to4 of 10.0.0.5"),
    ("2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.5", "IPv4-compatible private"),
    ("::169.254.169.254", "IPv4-compatible link-local"),
    ("2001:0:a00:5::f5ff:fffe", "Teredo, server 10.0.0.5"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo, client 127.0.0.1 (obfuscated)"),
    ("fec0::1", "site-local"),
    ("fd00::1", "unique local"),
    ("fe80::1", "link-local"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address refused, not bound
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
]
PUBLIC_ADDRESSES = [
    "93.184.216.34",
    "2606:4700::1111",
    "64:ff9b::5db8:d822",  # NAT64 (an IPv6-only host with DNS64) of 93.184.216.34
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    "::ffff:93.184.216.34",
]


@pytest.mark.parametrize(("address", "what"), INTERNAL_IN_IPV6)
def test_guard_refuses_every_form_of_an_internal_address(address: str, what: str) -> None:
    from partnerhub.kit.outbound import refusal

    assert refusal(address) is not None, what


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_guard_accepts_public_addresses(address: str) -> None:
    from partnerhub.kit.outbound import refusal

    assert refusal(address) is None


@pytest.mark.parametrize(("address", "what"), INTERNAL_IN_IPV6)
async def test_registration_refuses_a_name_resolving_to_an_internal_address(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net, address: str, what: str
) -> None:
    """The metadata URL's name resolves to an IPv6 disguise of an internal address: refused
    before any connection is attempted, nothing stored."""
    net.name("disguised.idp.test", [address])
    response = await _register_saml(client, tenant, "http://disguised.idp.test:8080/metadata")
    err = assert_error(response, 400, 1003)
    assert "not a public address" in str(err["message"]), (what, err)
    assert net.connects == [], what
    assert await _count(db) == 0


async def test_one_internal_answer_among_public_ones_refuses_the_name(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net
) -> None:
    net.name("mixed.idp.test", [PUBLIC, "64:ff9b::a9fe:a9fe"])
    response = await _register_saml(client, tenant, "http://mixed.idp.test/metadata")
    assert "not a public address" in str(assert_error(response, 400, 1003)["message"])
    assert net.connects == []


# --- DNS rebinding ----------------------------------------------------------------------------


async def test_the_checked_address_is_the_one_connected_to(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net, web: Web, metadata_xml: str
) -> None:
    """The name is resolved once; the connection goes to that checked address, with the name
    in the Host header. A resolver that answers loopback the second time gets no second time."""
    web.routes["/metadata"] = ("body", ("application/xml", metadata_xml.encode()))
    net.routes[PUBLIC] = web.port
    net.name("idp.idp.test", [PUBLIC], ["127.0.0.1"])
    response = await _register_saml(client, tenant, f"http://idp.idp.test:{web.port}/metadata")
    assert response.status_code == 201, response.text
    assert net.lookups == ["idp.idp.test"]
    assert net.connected_to() == [PUBLIC]
    assert web.seen == [("/metadata", f"idp.idp.test:{web.port}")]


async def test_dns_rebinding_to_loopback_reaches_nothing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net, web: Web, metadata_xml: str
) -> None:
    """First answer public (checked), second answer the local server: PartnerHub connects to
    the first (unreachable here) and never to the local server."""
    web.routes["/metadata"] = ("body", ("application/xml", metadata_xml.encode()))
    net.name("rebind.idp.test", [OTHER_PUBLIC], ["127.0.0.1"])
    response = await _register_saml(client, tenant, f"http://rebind.idp.test:{web.port}/metadata")
    assert "could not be fetched" in str(assert_error(response, 400, 1003)["message"])
    assert web.seen == []
    assert net.connected_to() == [OTHER_PUBLIC]
    assert await _count(db) == 0


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/metadata",
        "http://[::ffff:127.0.0.1]:{port}/metadata",
        "http://[64:ff9b::7f00:1]:{port}/metadata",
        "http://[2002:7f00:1::1]:{port}/metadata",
        "http://[::127.0.0.1]:{port}/metadata",
        "http://internal.idp.test:{port}/metadata",
        "file:///etc/passwd",
    ],
)
async def test_redirects_go_through_the_same_guard(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    net: Net,
    web: Web,
    metadata_xml: str,
    target: str,
) -> None:
    web.routes["/metadata"] = ("body", ("application/xml", metadata_xml.encode()))
    web.routes["/start"] = ("redirect", target.format(port=web.port))
    net.routes[PUBLIC] = web.port
    net.name("public.idp.test", [PUBLIC])
    net.name("internal.idp.test", ["64:ff9b::a00:5"])
    response = await _register_saml(client, tenant, f"http://public.idp.test:{web.port}/start")
    assert_error(response, 400, 1003)
    assert [path for path, _ in web.seen] == ["/start"]  # the redirect target never reached
    assert net.connected_to() == [PUBLIC]
    assert await _count(db) == 0


# --- one total deadline and a size cap, for every fetch ---------------------------------------


async def test_metadata_fetch_has_a_total_deadline(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net, web: Web
) -> None:
    """An answer that drips one byte every 50 ms never trips a per-read timeout; the whole
    fetch still ends at the deadline (1 s here)."""
    web.routes["/metadata"] = ("drip", 8.0)
    net.routes[PUBLIC] = web.port
    net.name("slow.idp.test", [PUBLIC])
    started = time.monotonic()
    response = await _register_saml(client, tenant, f"http://slow.idp.test:{web.port}/metadata")
    elapsed = time.monotonic() - started
    assert "did not answer in time" in str(assert_error(response, 400, 1003)["message"])
    assert elapsed < 3.0, elapsed
    assert await _count(db) == 0


async def test_name_resolution_is_inside_the_deadline(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net
) -> None:
    net.name("slowdns.idp.test", [PUBLIC])
    net.slow["slowdns.idp.test"] = 6.0
    started = time.monotonic()
    response = await _register_saml(client, tenant, "http://slowdns.idp.test/metadata")
    elapsed = time.monotonic() - started
    assert "did not answer in time" in str(assert_error(response, 400, 1003)["message"])
    assert elapsed < 3.0, elapsed
    assert net.connects == []


async def test_deadline_covers_every_redirect_hop(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net, web: Web
) -> None:
    """Five redirect hops of 0.6 s each (each well within a per-request timeout of 1 s) would
    take 3 s; the one deadline of the fetch (1 s) ends it during the second hop at the latest,
    however loaded the machine: the later hops and the final answer are never asked for."""
    hops = ["/a", "/b", "/c", "/d", "/e"]
    for here, there in zip(hops, [*hops[1:], "/final"], strict=True):
        web.routes[here] = ("redirect", f"http://public.idp.test:{web.port}{there}")
    web.routes["/final"] = ("body", ("application/xml", SAMPLE_METADATA.encode()))
    net.routes[PUBLIC] = web.port
    net.name("public.idp.test", [PUBLIC])

    original = web.answer

    def slow_answer(h: Handler) -> None:
        if h.path in hops:
            time.sleep(0.6)
        original(h)

    web.answer = slow_answer  # type: ignore[method-assign]
    started = time.monotonic()
    response = await _register_saml(client, tenant, f"http://public.idp.test:{web.port}/a")
    elapsed = time.monotonic() - started
    assert "did not answer in time" in str(assert_error(response, 400, 1003)["message"])
    seen = [path for path, _ in web.seen]
    assert seen == hops[: len(seen)] and len(seen) <= 2, seen
    assert elapsed < 2.5, elapsed
    assert await _count(db) == 0


async def test_oidc_discovery_has_a_total_deadline(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, net: Net, web: Web
) -> None:
    web.routes["/.well-known/openid-configuration"] = ("drip", 8.0)
    net.routes[PUBLIC] = web.port
    net.name("oidc.idp.test", [PUBLIC])
    token = await tenant.token(ADMIN)
    started = time.monotonic()
    response = await client.post(
        URL,
        json={
            "type": "oidc",
            "name": "Slow",
            "issuer": f"http://oidc.idp.test:{web.port}",
            "clientId": "c",
            "clientSecret": "s",
        },
        headers=bearer(token),
    )
    elapsed = time.monotonic() - started
    assert "did not answer in time" in str(assert_error(response, 400, 1003)["message"])
    assert elapsed < 3.0, elapsed
    assert await _count(db) == 0


def _meta(base: str) -> dict[str, Any]:
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/jwks",
    }


@pytest.fixture
async def oidc_runtime(app: Any) -> AsyncIterator[None]:
    """The app's settings are the process's (``runtime.settings()``) while the test runs."""
    assert runtime.settings().sso_fetch_timeout_seconds == 1.0
    yield


async def test_token_endpoint_has_a_total_deadline(oidc_runtime: None, net: Net, web: Web) -> None:
    from partnerhub.sso import oidc
    from partnerhub.sso.fetch import FetchError

    web.routes["/token"] = ("drip", 8.0)
    net.routes[PUBLIC] = web.port
    net.name("oidc.idp.test", [PUBLIC])
    base = f"http://oidc.idp.test:{web.port}"
    provider = oidc.Provider(base, "client", f"{base}/.well-known/openid-configuration", "openid")
    started = time.monotonic()
    with pytest.raises((FetchError, oidc.OidcRefused)) as refused:
        await oidc.exchange_code(_meta(base), provider, "secret", "https://testserver/cb", "c", "v")
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed
    assert "in time" in str(refused.value)
    assert [path for path, _ in web.seen] == ["/token"]


async def test_token_endpoint_answer_is_size_capped(
    oidc_runtime: None, net: Net, web: Web, settings: Settings
) -> None:
    """A token answer larger than the cap is refused while it arrives (never read whole)."""
    from partnerhub.sso import oidc
    from partnerhub.sso.fetch import FetchError

    settings.sso_metadata_max_bytes = 64 * 1024
    token = {"id_token": "x", "access_token": "y", "token_type": "Bearer"}
    padded = json.dumps(token).encode()[:-1] + b" " * (256 * 1024) + b"}"
    web.routes["/token"] = ("chunked", [padded[i : i + 8192] for i in range(0, len(padded), 8192)])
    net.routes[PUBLIC] = web.port
    net.name("oidc.idp.test", [PUBLIC])
    base = f"http://oidc.idp.test:{web.port}"
    provider = oidc.Provider(base, "client", f"{base}/.well-known/openid-configuration", "openid")
    with pytest.raises((FetchError, oidc.OidcRefused)) as refused:
        await oidc.exchange_code(_meta(base), provider, "secret", "https://testserver/cb", "c", "v")
    assert "larger than" in str(refused.value)


async def test_jwks_fetch_has_a_total_deadline(oidc_runtime: None, net: Net, web: Web) -> None:
    from partnerhub.sso import oidc
    from partnerhub.sso.fetch import FetchError

    web.routes["/jwks"] = ("drip", 8.0)
    net.routes[PUBLIC] = web.port
    net.name("oidc.idp.test", [PUBLIC])
    base = f"http://oidc.idp.test:{web.port}"
    provider = oidc.Provider(base, "client", f"{base}/.well-known/openid-configuration", "openid")
    started = time.monotonic()
    with pytest.raises(FetchError, match="in time"):
        await oidc.verify_id_token(_meta(base), provider, {"id_token": "a.b.c"}, "nonce")
    assert time.monotonic() - started < 3.0


async def test_allowing_private_addresses_still_connects_to_the_checked_address(
    client: httpx.AsyncClient,
    tenant: Tenant,
    net: Net,
    web: Web,
    metadata_xml: str,
    settings: Settings,
) -> None:
    """The operator setting for labs (IdP on the same machine) lifts the address policy only:
    one resolution, a connection to that address, the same deadline."""
    settings.sso_allow_private_addresses = True
    web.routes["/metadata"] = ("body", ("application/xml", metadata_xml.encode()))
    net.name("lab.idp.test", ["127.0.0.1"], [OTHER_PUBLIC])
    response = await _register_saml(client, tenant, f"http://lab.idp.test:{web.port}/metadata")
    assert response.status_code == 201, response.text
    assert net.lookups == ["lab.idp.test"]
    assert net.connected_to() == ["127.0.0.1"]


# --- TLS: the checked address is connected to, the name is still verified --------------------


async def test_tls_to_the_checked_address_verifies_the_name(
    net: Net, web: Web, tmp_path: Path
) -> None:
    """Connecting to the checked IP address does not lose the name: the TLS handshake sends
    it (SNI) and checks the certificate against it, and the Host header carries it."""
    from partnerhub.kit import outbound

    server_ctx, client_ctx = tls_pair(tmp_path, "tls.idp.test")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,misc,unused-ignore]
    web.socket = server_ctx.wrap_socket(web.socket, server_side=True)
    web.routes["/jwks"] = ("body", ("application/json", b'{"keys": []}'))
    net.routes[PUBLIC] = web.port
    net.name("tls.idp.test", [PUBLIC])
    net.name("other.idp.test", [PUBLIC])
    transport = outbound.GuardedTransport(deadline_seconds=5, verify=client_ctx)
    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.get(f"https://tls.idp.test:{web.port}/jwks")
    assert response.status_code == 200
    assert response.json() == {"keys": []}
    assert sni == ["tls.idp.test"]
    assert web.seen == [("/jwks", f"tls.idp.test:{web.port}")]
    assert net.connected_to() == [PUBLIC]
    # The same server under a name its certificate does not carry is refused.
    transport = outbound.GuardedTransport(deadline_seconds=5, verify=client_ctx)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await http.get(f"https://other.idp.test:{web.port}/jwks")
