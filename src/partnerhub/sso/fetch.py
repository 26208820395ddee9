"""Requests to URLs a partner gave us (SAML metadata, OIDC discovery, JWKS, token endpoint).

A partner-supplied URL must not turn PartnerHub into a proxy into its own network, so every
request made here:

* uses ``http`` or ``https`` only, with no user name or password in the URL;
* connects only to public addresses: every address the host name resolves to is checked, on
  the first request and on every redirect (at most 3), and loopback, private, link-local,
  multicast and reserved addresses are refused unless ``PARTNERHUB_SSO_ALLOW_PRIVATE_ADDRESSES``
  is set (tests and labs, where the IdP runs on the same machine);
* gives up after ``PARTNERHUB_SSO_FETCH_TIMEOUT_SECONDS`` and reads at most
  ``PARTNERHUB_SSO_METADATA_MAX_BYTES`` of the answer.

(The name is resolved again by the HTTP client when it connects; a DNS server that answers
differently the second time could still steer it. The timeout and the size cap bound what such
a request can do.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import httpx

from partnerhub import runtime

MAX_REDIRECTS = 3


class FetchError(Exception):
    """A partner URL could not be fetched; the message says why, for the partner to read."""


def check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchError(f"'{url}' is not a URL") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"'{url}': only http and https URLs are accepted")
    if not parsed.host:
        raise FetchError(f"'{url}' has no host name")
    if parsed.userinfo:
        raise FetchError(f"'{url}': user names and passwords in URLs are not accepted")
    return parsed


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_host(host: str, port: int) -> None:
    if runtime.settings().sso_allow_private_addresses:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchError(f"the host name '{host}' does not resolve") from None
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or any(_blocked(a) for a in addresses):
        raise FetchError(f"'{host}' is not a public address; PartnerHub does not connect to it")


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that checks every request's scheme and host before connecting."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = check_url(str(request.url))
        await check_host(url.host, url.port or (443 if url.scheme == "https" else 80))
        return await super().handle_async_request(request)


def client_options() -> dict[str, Any]:
    """Keyword arguments for an ``httpx.AsyncClient`` (or Authlib's) that goes to partner URLs."""
    settings = runtime.settings()
    return {
        "transport": GuardedTransport(),
        "timeout": httpx.Timeout(settings.sso_fetch_timeout_seconds),
        "follow_redirects": True,
        "max_redirects": MAX_REDIRECTS,
        "trust_env": False,
    }


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
    except httpx.TimeoutException:
        raise FetchError(f"{what}: {url} did not answer in time") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"{what}: {url} redirects too many times") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{what}: {url} could not be fetched ({exc.__class__.__name__})") from None
