"""The fake network of the outbound-request tests (``test_outbound_fetch.py``,
``test_webhook_delivery_guard.py``): ``net`` is the network as the process sees it — a resolver
whose answers the test writes (names under ``.idp.test``; any other name that is not an IP
literal does not resolve), and a connect step that reaches **only** loopback: a connection to a
"public" address the test has routed goes to a local server on 127.0.0.1 instead, and any other
non-loopback connection fails with "network unreachable" — after being recorded, so a test sees
every address PartnerHub tried to reach. ``web`` is that local server; ``tls_pair`` makes a
certificate for a name."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PUBLIC = "93.184.216.34"  # a global address; the fake network routes it to a local server
OTHER_PUBLIC = "198.41.0.4"  # a global address the fake network does not route anywhere


# --- the local "internet" -------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: Web = self.server  # type: ignore[assignment]
        server.seen.append((self.path, self.headers.get("Host", "")))
        server.answer(self)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Web(ThreadingHTTPServer):
    """A local web server; ``routes`` maps a path to how it answers."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str]] = []
        self.routes: dict[str, Any] = {}
        self.stop = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def answer(self, h: Handler) -> None:
        path = h.path.split("?", 1)[0]
        kind, value = self.routes.get(path, ("status", 404))
        if kind == "status":
            h.send_response(value)
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif kind == "body":
            content_type, payload = value
            h.send_response(200)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        elif kind == "headers":  # 200 with a small body and these extra headers
            h.send_response(200)
            for name, header_value in value:
                h.send_header(name, header_value)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"ok")
        elif kind == "redirect":
            h.send_response(302)
            h.send_header("Location", value)
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif kind == "drip":  # one byte every 50 ms for ``value`` seconds
            count = int(value / 0.05)
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(count))
            h.end_headers()
            for _ in range(count):
                if self.stop.wait(0.05):
                    return
                try:
                    h.wfile.write(b" ")
                    h.wfile.flush()
                except OSError:
                    return
        elif kind == "chunked":  # a body of unannounced length
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for piece in value:
                try:
                    h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                except OSError:
                    return
            h.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def web() -> Iterator[Web]:
    server = Web()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


@dataclass
class Net:
    """The fake network (see the module docstring)."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)  # public address -> local port
    lookups: list[str] = field(default_factory=list)
    connects: list[tuple[str, int]] = field(default_factory=list)

    def name(self, host: str, *answers: list[str]) -> None:
        """``host`` resolves to the first list, then the next on each later lookup."""
        self.answers[host] = list(answers)

    def connected_to(self) -> list[str]:
        return [host for host, _ in self.connects]


def _is_ip(host: Any) -> bool:
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    return True


def _loopback(host: Any) -> bool:
    return _is_ip(host) and ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Net:
    fake = Net()
    real_getaddrinfo = asyncio.BaseEventLoop.getaddrinfo
    real_connect = asyncio.BaseEventLoop.create_connection

    async def getaddrinfo(
        loop: asyncio.AbstractEventLoop, host: Any, port: Any, *args: Any, **kwargs: Any
    ) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.endswith(".idp.test"):
            fake.lookups.append(name)
            if name in fake.slow:
                await asyncio.sleep(fake.slow[name])
            queue = fake.answers.get(name) or []
            if not queue:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            out = []
            for address in addresses:
                ip = ipaddress.ip_address(address)
                if ip.version == 6:
                    out.append(
                        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0))
                    )
                else:
                    out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port))))
            return out
        if name is not None and not _is_ip(name) and name != "localhost":
            raise socket.gaierror(socket.EAI_NONAME, "no DNS in these tests")
        return await real_getaddrinfo(loop, host, port, *args, **kwargs)  # type: ignore[arg-type]

    async def create_connection(
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Any,
        host: Any = None,
        port: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        fake.connects.append((str(host), int(port or 0)))
        if host in fake.routes:
            return await real_connect(
                loop,  # type: ignore[arg-type]
                protocol_factory,
                "127.0.0.1",
                fake.routes[host],
                *args,
                **kwargs,
            )
        if not _loopback(host):
            raise OSError(errno.ENETUNREACH, "Network is unreachable (test network)")
        return await real_connect(loop, protocol_factory, host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", create_connection)
    return fake


def tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``name`` only (no IP address in it), signed by
    a throw-away CA, and a client context trusting only that CA."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client
