"""Requests to URLs a partner gave us (SAML metadata, OIDC discovery, JWKS, token endpoint).

A partner-supplied URL must not turn PartnerHub into a proxy into its own network: every
request goes through :mod:`partnerhub.kit.outbound` (http/https only; the host name resolved
once, every address checked — IPv6 disguises of internal IPv4 addresses included — and the
connection made to the checked address; redirects, at most 3, through the same checks), with
the SSO settings:

* ``PARTNERHUB_SSO_ALLOW_PRIVATE_ADDRESSES`` lifts the address policy (tests and labs, where
  the IdP runs on the same machine);
* ``PARTNERHUB_SSO_FETCH_TIMEOUT_SECONDS`` is the **total** deadline of one fetch (resolving,
  connecting, redirects and the whole answer), not only a timeout per read;
* ``PARTNERHUB_SSO_METADATA_MAX_BYTES`` caps every answer (the token endpoint's too).
"""

from __future__ import annotations

from typing import Any

import httpx

from partnerhub import runtime
from partnerhub.kit import outbound

MAX_REDIRECTS = 3


class FetchError(Exception):
    """A partner URL could not be fetched; the message says why, for the partner to read."""


def check_url(url: str) -> httpx.URL:
    try:
        return outbound.check_url(url)
    except outbound.UrlRefused as exc:
        raise FetchError(str(exc)) from None


def client_options() -> dict[str, Any]:
    """Keyword arguments for one ``httpx.AsyncClient`` (or Authlib's) that goes to partner
    URLs; one client per operation (its deadline starts with its first request)."""
    settings = runtime.settings()
    return outbound.client_options(
        allow_private=settings.sso_allow_private_addresses,
        deadline_seconds=settings.sso_fetch_timeout_seconds,
        max_bytes=settings.sso_metadata_max_bytes,
        max_redirects=MAX_REDIRECTS,
    )


def explain(exc: BaseException, what: str, url: str) -> FetchError | None:
    """The partner-readable error for a failed request (None: not a request failure)."""
    if isinstance(exc, outbound.AddressRefused):
        return FetchError(
            f"{what}: '{exc.host}' is not a public address; PartnerHub does not connect to it"
        )
    if isinstance(exc, outbound.Unresolvable):
        return FetchError(f"{what}: the host name '{exc.host}' does not resolve")
    if isinstance(exc, outbound.DeadlineExceeded | httpx.TimeoutException):
        return FetchError(f"{what}: {url} did not answer in time")
    if isinstance(exc, outbound.TooLarge):
        return FetchError(f"{what}: {url} is larger than {exc.limit} bytes")
    if isinstance(exc, outbound.OutboundError):
        return FetchError(f"{what}: {url}: {exc}")
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError(f"{what}: {url} redirects too many times")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FetchError(f"{what}: {url} redirects to a URL that is not http or https")
    if isinstance(exc, httpx.HTTPError):
        return FetchError(f"{what}: {url} could not be fetched ({exc.__class__.__name__})")
    return None


async def fetch(url: str, what: str) -> bytes:
    """The body of ``url`` (GET), within the size cap; ``what`` names it in error messages."""
    check_url(url)
    limit = runtime.settings().sso_metadata_max_bytes
    try:
        async with (
            httpx.AsyncClient(**client_options()) as client,
            client.stream("GET", url, headers={"Accept": "*/*"}) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"{what}: {url} answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FetchError(f"{what}: {url} is larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except (outbound.OutboundError, httpx.HTTPError) as exc:
        error = explain(exc, what, url)
        assert error is not None
        raise error from None
