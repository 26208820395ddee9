"""Outbound HTTP to a URL someone else chose (an IdP's metadata, discovery, JWKS and token
endpoint; a webhook's receiver), without turning PartnerHub into a proxy into the network it
runs in.

Every request made through :class:`GuardedTransport` (``httpx.AsyncClient(**client_options(...))``,
the SSO fetches) or :class:`KeptAlive` (the webhook sender's POSTs; no redirect followed):

* is ``http`` or ``https``, with no user name or password in the URL (:func:`check_url`);
* resolves the host name **once** (:func:`resolve`), refuses it if *any* of its addresses is
  not public (:func:`refusal`), then connects to one of those checked addresses itself — the
  HTTP client never resolves the name again, so a DNS server that answers differently the
  second time (DNS rebinding) has no second time. The ``Host`` header, TLS SNI and the
  certificate check still use the name;
* follows redirects only through this same transport (every hop is checked the same way);
* has one **total deadline** (``deadline_seconds``) for everything the client does —
  resolving, connecting, every redirect and every byte of every answer — not only a timeout
  per read, so an answer that drips one byte a second cannot hold a worker;
* reads at most ``max_bytes`` of each answer (counted as received; ``Accept-Encoding:
  identity`` is asked for and a compressed answer is refused, so no decompression bomb).

Not public (:func:`refusal`): loopback, private, link-local, unspecified, multicast, reserved,
carrier-grade NAT, site-local and documentation ranges, and **every IPv6 form of an IPv4
address**, judged by the IPv4 address it carries: IPv4-mapped ``::ffff:a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``; and, whatever they carry, IPv4-compatible ``::a.b.c.d``
(deprecated), local-use NAT64 ``64:ff9b:1::/48`` and Teredo ``2001::/32`` (tunnels, never a
server's address). ``allow_private=True`` (an operator setting, for tests and labs whose server
runs on the same machine) skips the address policy, not the rest.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

import httpcore
import httptools
import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
CARRIER_NAT = ipaddress.IPv4Network("100.64.0.0/10")


class OutboundError(Exception):
    """A request to an outside URL was refused or gave up; the message says why."""


class UrlRefused(OutboundError):
    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason  # which refusal (for a translated message): not_url, scheme, ...


class AddressRefused(OutboundError):
    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"'{host}' is not a public address ({address}: {reason})")
        self.host = host
        self.address = address
        self.reason = reason


class Unresolvable(OutboundError):
    def __init__(self, host: str) -> None:
        super().__init__(f"the host name '{host}' does not resolve")
        self.host = host


class DeadlineExceeded(OutboundError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} seconds")
        self.seconds = seconds


class TooLarge(OutboundError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


def check_url(url: str) -> httpx.URL:
    """The parsed URL if it is one PartnerHub may request (``UrlRefused`` otherwise)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UrlRefused(f"'{url}' is not a URL", "not_url") from None
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused(f"'{url}': only http and https URLs are accepted", "scheme")
    if not parsed.host:
        raise UrlRefused(f"'{url}' has no host name", "no_host")
    if parsed.userinfo:
        raise UrlRefused(f"'{url}': user names and passwords in URLs are not accepted", "userinfo")
    return parsed


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in CARRIER_NAT:
        return "carrier-grade NAT"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "private or reserved"
    return None


def refusal(address: str | IpAddress) -> str | None:
    """Why PartnerHub must not connect to ``address`` (None: it is a public address)."""
    if isinstance(address, str):
        try:
            ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
    else:
        ip = address
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_refusal(ip)
    embedded: ipaddress.IPv4Address | None = None
    if ip.ipv4_mapped is not None:
        embedded, form = ip.ipv4_mapped, "IPv4-mapped"
    elif ip in NAT64:
        embedded, form = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    elif ip.sixtofour is not None:
        embedded, form = ip.sixtofour, "6to4"
    if embedded is not None:
        inner = _v4_refusal(embedded)
        return f"{form} form of {embedded} ({inner})" if inner else None
    if ip in NAT64_LOCAL:
        return "local-use NAT64"
    if ip in TEREDO:
        return "Teredo tunnel"
    if ip in IPV4_COMPATIBLE:
        return "unspecified" if int(ip) == 0 else "loopback" if int(ip) == 1 else "IPv4-compatible"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_site_local:
        return "site-local"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "private or reserved"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (an IP literal is its own address), in resolver order."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable(host) from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(host)
    return addresses


async def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses of ``host`` to connect to, as IP literals: every one of them checked
    (one that is not public refuses the name, unless ``allow_private``)."""
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise AddressRefused(host, address, reason)
    return addresses


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificate check of every outbound TLS connection (httpx's default trust store),
    built once: building it reads the whole CA bundle (about 25 ms of CPU)."""
    return httpx.create_ssl_context()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the address policy: resolve once, check every answer,
    connect to a checked address given as an IP literal (so nothing resolves the name again)."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self.allow_private)
        failure: Exception | None = None
        for address in addresses:  # the checked addresses only, as IP literals: no new lookup
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:  # the next address, as happy eyeballs would
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UrlRefused("Unix sockets are not reachable from outside URLs")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Deadline:
    """One wall-clock limit shared by every request of a client (started by the first)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at: float | None = None

    def start(self) -> float:
        if self.at is None:
            self.at = asyncio.get_running_loop().time() + self.seconds
        return self.at


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, deadline: _Deadline) -> None:
        self.inner = inner
        self.limit = limit
        self.deadline = deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        chunks = self.inner.__aiter__()
        while True:
            try:
                async with asyncio.timeout_at(self.deadline.start()):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise DeadlineExceeded(self.deadline.seconds) from None
            size += len(chunk)
            if size > self.limit:
                raise TooLarge(self.limit)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that applies the module's rules to every request (redirects too)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        deadline_seconds: float = 10.0,
        max_bytes: int = 1024 * 1024,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(verify=verify or tls_context(), trust_env=False)
        pool = self._pool
        if not isinstance(pool, httpcore.AsyncConnectionPool):  # pragma: no cover - httpx change
            raise RuntimeError("httpx's transport no longer holds a connection pool")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            network_backend=GuardedBackend(allow_private),
        )
        self.max_bytes = max_bytes
        self.deadline = _Deadline(deadline_seconds)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url))
        request.headers["Accept-Encoding"] = "identity"
        try:
            async with asyncio.timeout_at(self.deadline.start()):
                response = await super().handle_async_request(request)
        except TimeoutError:
            raise DeadlineExceeded(self.deadline.seconds) from None
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        length = response.headers.get("content-length", "")
        too_long = length.isdigit() and int(length) > self.max_bytes
        if encoding not in ("", "identity") or too_long:
            await response.aclose()
            if too_long:
                raise TooLarge(self.max_bytes)
            raise OutboundError(f"the answer is compressed ({encoding}) although it was not asked")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(response.stream, self.max_bytes, self.deadline)
        return response


def client_options(
    *,
    allow_private: bool,
    deadline_seconds: float,
    max_bytes: int,
    max_redirects: int = 3,
) -> dict[str, Any]:
    """Keyword arguments for an ``httpx.AsyncClient`` (or Authlib's, which passes them on) that
    requests outside URLs. Make one client per operation: its deadline starts at its first
    request and covers everything the client does afterwards."""
    return {
        "transport": GuardedTransport(
            allow_private=allow_private, deadline_seconds=deadline_seconds, max_bytes=max_bytes
        ),
        "timeout": httpx.Timeout(deadline_seconds),
        "follow_redirects": True,
        "max_redirects": max_redirects,
        "trust_env": False,
    }


# --- kept-alive POSTs in order to one URL (webhook delivery) ---------------------------------


class Answer(NamedTuple):
    status: int
    body: bytes  # at most the connection's ``max_bytes``


class _Reply:
    """httptools' callbacks for one answer: the status, the body (counted), what refuses it."""

    __slots__ = (
        "body",
        "chunked",
        "complete",
        "encoding",
        "headers_done",
        "keep_alive",
        "length",
        "limit",
        "parser",
    )

    def __init__(self, limit: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.keep_alive = False
        self.limit = limit
        self.body = bytearray()
        self.encoding = b""
        self.length: int | None = None
        self.chunked = False
        self.headers_done = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-encoding":
            self.encoding = value.strip().lower()
        elif name == b"content-length" and value.strip().isdigit():
            self.length = int(value)
        elif name == b"transfer-encoding":
            self.chunked = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, data: bytes) -> None:
        if len(self.body) <= self.limit:  # past the limit: refused after this feed
            self.body += data

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # (only known until the end)

    def refusal(self) -> OutboundError | None:
        if self.encoding not in (b"", b"identity"):
            return OutboundError(
                f"the answer is compressed ({self.encoding.decode('latin-1')}) although it was "
                "not asked"
            )
        if len(self.body) > self.limit or (self.length or 0) > self.limit:
            return TooLarge(self.limit)
        return None


class KeptAlive:
    """POSTs in order to one URL over one kept-alive HTTP/1.1 connection, under the module's
    rules: the URL checked (:func:`check_url`), the name resolved once and every address
    checked (:func:`checked_addresses`) at each new connection, TLS checked against the name,
    one deadline for each whole POST (connecting included), answers capped at ``max_bytes``
    and never compressed, no redirect followed (a 3xx is an answer like any other).

    Written for the webhook sender, which POSTs many small bodies to one receiver: about a
    tenth of the CPU of an ``httpx`` request through :class:`GuardedTransport` (httptools, the
    parser ``uvicorn`` serves with, reads the answers). A connection the receiver closed while
    idle is opened again once, when no byte of the answer arrived."""

    def __init__(
        self,
        url: str,
        *,
        allow_private: bool,
        deadline_seconds: float,
        max_bytes: int,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        parsed = check_url(url)
        self.url = url
        self.allow_private = allow_private
        self.deadline_seconds = deadline_seconds
        self.max_bytes = max_bytes
        self.host = parsed.raw_host.decode("ascii")
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.tls = (verify or tls_context()) if parsed.scheme == "https" else None
        self.head = (
            b"POST " + parsed.raw_path + b" HTTP/1.1\r\nHost: " + parsed.netloc + b"\r\n"
            b"Accept-Encoding: identity\r\n"
        )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def _connect(self) -> None:
        addresses = await checked_addresses(self.host, self.port, self.allow_private)
        failure: OSError | None = None
        for address in addresses:  # the checked addresses only, as IP literals: no new lookup
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    address,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                    limit=2**16,
                )
                return
            except OSError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` with ``headers`` (names and values the caller made: no line breaks);
        the answer, or an :class:`OutboundError` / ``OSError`` (the connection is then
        closed)."""
        request = (
            self.head
            + "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        try:
            async with asyncio.timeout(self.deadline_seconds):
                reused = self.open
                if not reused:
                    await self._connect()
                try:
                    return await self._exchange(request)
                except _ClosedIdle:
                    if not reused:
                        raise OutboundError("the connection closed without an answer") from None
                    await self._connect()  # the receiver closed it while idle: once more
                    try:
                        return await self._exchange(request)
                    except _ClosedIdle:
                        raise OutboundError("the connection closed without an answer") from None
        except TimeoutError:
            self.close()
            raise DeadlineExceeded(self.deadline_seconds) from None
        except BaseException:
            self.close()
            raise

    async def _exchange(self, request: bytes) -> Answer:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        reply = _Reply(self.max_bytes)
        parser = reply.parser
        writer.write(request)
        await writer.drain()
        received = False
        while not reply.complete:
            data = await reader.read(2**16)
            if not data:
                if not received:
                    self.close()
                    raise _ClosedIdle
                if reply.headers_done and reply.length is None and not reply.chunked:
                    break  # an answer that ends with the connection
                raise OutboundError("the connection closed in the middle of the answer")
            received = True
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise OutboundError(f"not an HTTP answer ({exc})") from None
            refused = reply.refusal()
            if refused is not None:
                raise refused
        if not reply.keep_alive:
            self.close()
        return Answer(parser.get_status_code(), bytes(reply.body))


class _ClosedIdle(Exception):
    """The connection ended before any byte of the answer."""
