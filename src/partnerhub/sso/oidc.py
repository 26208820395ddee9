"""PartnerHub as an OpenID Connect relying party, on Authlib (and joserfc, which Authlib uses).

Authorization code flow with PKCE (S256), ``state`` and ``nonce``. The ID token is verified
with the provider's JWKS (signature; asymmetric algorithms only), and its ``iss``, ``aud``,
``exp``, ``iat`` and ``nonce`` claims are checked (Authlib's ``CodeIDToken``, with
``PARTNERHUB_SSO_CLOCK_SKEW_SECONDS`` of leeway). Every request to the provider goes through
:mod:`partnerhub.sso.fetch` (public addresses only, connected to as checked; one total deadline
and a size cap per fetch, the token endpoint's included).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from partnerhub import runtime
from partnerhub.kit import outbound
from partnerhub.sso.fetch import FetchError, client_options, explain, fetch

ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
WELL_KNOWN = "/.well-known/openid-configuration"


class OidcRefused(Exception):
    """A callback that must not sign anybody in; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def default_discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    discovery_url: str
    scopes: str


async def _json(url: str, what: str) -> dict[str, Any]:
    body = await fetch(url, what)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FetchError(f"{what}: {url} did not answer with JSON") from None
    if not isinstance(data, dict):
        raise FetchError(f"{what}: {url} did not answer with a JSON object")
    return data


async def discover(provider: Provider) -> dict[str, Any]:
    """The provider's discovery document, checked against what the partner registered."""
    meta = await _json(provider.discovery_url, "OpenID Connect discovery")
    if meta.get("issuer") != provider.issuer:
        raise FetchError(
            f"OpenID Connect discovery: the document's issuer {meta.get('issuer')!r} is not "
            f"the registered issuer {provider.issuer!r}"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = meta.get(key)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise FetchError(f"OpenID Connect discovery: {key} is missing or not a URL")
    if "code" not in (meta.get("response_types_supported") or ["code"]):
        raise FetchError("OpenID Connect discovery: the provider does not support the code flow")
    return meta


def _client(
    provider: Provider,
    redirect_uri: str,
    client_secret: str | None = None,
    auth_method: str = "client_secret_basic",
) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=client_secret,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
        **client_options(),
    )


async def authorization_url(
    meta: dict[str, Any],
    provider: Provider,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    login_hint: str | None = None,
) -> str:
    extra = {"login_hint": login_hint} if login_hint else {}
    async with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=code_verifier,
            **extra,
        )
    return str(url)


def _auth_method(meta: dict[str, Any]) -> str:
    supported = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"


async def exchange_code(
    meta: dict[str, Any],
    provider: Provider,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str,
) -> dict[str, Any]:
    try:
        async with _client(provider, redirect_uri, client_secret, _auth_method(meta)) as client:
            token = await client.fetch_token(
                meta["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            )
    except FetchError:
        raise
    except (outbound.OutboundError, httpx.HTTPError) as exc:
        error = explain(exc, "OpenID Connect token endpoint", meta["token_endpoint"])
        assert error is not None
        raise error from None
    except Exception as exc:  # Authlib raises OAuthError, ValueError...
        raise OidcRefused("token", f"{exc.__class__.__name__}: {exc}") from None
    if not isinstance(token, dict) or not token.get("id_token"):
        raise OidcRefused("token", "the token endpoint returned no id_token")
    return dict(token)


async def verify_id_token(
    meta: dict[str, Any], provider: Provider, token: dict[str, Any], nonce: str
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, expiry and nonce check out."""
    jwks = await _json(meta["jwks_uri"], "OpenID Connect JWKS")
    advertised = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in advertised if a in ASYMMETRIC_ALGORITHMS] or ["RS256"]
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        decoded = jwt.decode(
            token["id_token"],
            key=key_set,
            registry=JWSRegistry(algorithms=algorithms, strict_check_header=False),
        )
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcRefused("signature", f"{exc.__class__.__name__}: {exc}") from None
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": provider.client_id},
        "exp": {"essential": True},
    }
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options,
        {
            "nonce": nonce,
            "client_id": provider.client_id,
            "access_token": token.get("access_token"),
        },
    )
    try:
        claims.validate(leeway=runtime.settings().sso_clock_skew_seconds)
    except JoseError as exc:
        name = getattr(exc, "claim", "") or ""
        reason = {
            "nonce": "nonce",
            "aud": "audience",
            "iss": "issuer",
            "exp": "expired",
        }.get(name, "token")
        if exc.__class__.__name__ == "ExpiredTokenError":
            reason = "expired"
        raise OidcRefused(reason, f"{exc.__class__.__name__}: {exc}") from None
    return dict(claims)
