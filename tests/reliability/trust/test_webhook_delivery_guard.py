"""Webhook delivery under the outbound rules of issue 10: the sender's kept-alive connection
(``kit.outbound.KeptAlive``) resolves the receiver's name once per connection and refuses it
when any answer is not public (a name that was public when the webhook was registered and
points inside later reaches nothing), connects to the checked address with TLS still checked
against the name, gives each POST one deadline, caps and never decompresses the answer, and
follows no redirect. The fake network (``fakenet.py``) records every address tried.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.events import delivery
from partnerhub.kit import outbound
from tests.conftest import bearer
from tests.factories import Tenant
from tests.reliability.trust.fakenet import PUBLIC, Net, Web, tls_pair

HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


def connection(url: str, **options: Any) -> outbound.KeptAlive:
    settings: dict[str, Any] = {
        "allow_private": False,
        "deadline_seconds": 2.0,
        "max_bytes": 1000,
    }
    return outbound.KeptAlive(url, **{**settings, **options})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        webhook_allow_private_addresses=False,
        webhook_timeout_seconds=1.0,
    )


async def test_one_connection_carries_a_batch_to_the_checked_address(net: Net, web: Web) -> None:
    web.routes["/hook"] = ("status", 204)
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    kept = connection(f"http://hook.idp.test:{web.port}/hook?tenant=a")
    answers = [await kept.post(b'{"n": %d}' % i, HEADERS) for i in range(5)]
    kept.close()
    assert [a.status for a in answers] == [204] * 5
    assert net.lookups == ["hook.idp.test"]  # resolved once
    assert net.connected_to() == [PUBLIC]  # one connection, to the checked address
    assert web.seen == [("/hook?tenant=a", f"hook.idp.test:{web.port}")] * 5  # Host: the name


@pytest.mark.parametrize(
    "inside", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::ffff:127.0.0.1", "64:ff9b::7f00:1"]
)
async def test_a_name_that_now_points_inside_reaches_nothing(
    net: Net, web: Web, inside: str
) -> None:
    """DNS rebinding between two connections: the second lookup answers an internal address,
    the new connection is refused before any packet, the old one served only the public one."""
    web.routes["/hook"] = ("status", 200)
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC], [inside])
    kept = connection(f"http://hook.idp.test:{web.port}/hook")
    assert (await kept.post(b"{}", HEADERS)).status == 200
    kept.close()
    with pytest.raises(outbound.AddressRefused) as refused:
        await kept.post(b"{}", HEADERS)
    assert refused.value.address == inside
    assert net.connected_to() == [PUBLIC]
    assert len(web.seen) == 1


async def test_one_internal_answer_among_public_ones_refuses_the_name(net: Net, web: Web) -> None:
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC, "10.1.2.3"])
    with pytest.raises(outbound.AddressRefused):
        await connection(f"http://hook.idp.test:{web.port}/hook").post(b"{}", HEADERS)
    assert net.connects == []


async def test_each_post_has_one_deadline(net: Net, web: Web) -> None:
    """An answer that drips one byte every 50 ms holds the sender for the deadline, no more."""
    web.routes["/hook"] = ("drip", 5.0)
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    kept = connection(f"http://hook.idp.test:{web.port}/hook", deadline_seconds=0.5)
    began = time.monotonic()
    with pytest.raises(outbound.DeadlineExceeded):
        await kept.post(b"{}", HEADERS)
    assert time.monotonic() - began < 1.5
    assert not kept.open  # a connection in an unknown state is not used again


async def test_the_deadline_covers_name_resolution(net: Net, web: Web) -> None:
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    net.slow["hook.idp.test"] = 3.0
    began = time.monotonic()
    with pytest.raises(outbound.DeadlineExceeded):
        await connection(f"http://hook.idp.test:{web.port}/hook", deadline_seconds=0.5).post(
            b"{}", HEADERS
        )
    assert time.monotonic() - began < 1.5


@pytest.mark.parametrize("kind", ["announced", "chunked"])
async def test_the_answer_is_capped(net: Net, web: Web, kind: str) -> None:
    if kind == "announced":
        web.routes["/hook"] = ("body", ("text/plain", b"x" * 5000))
    else:
        web.routes["/hook"] = ("chunked", [b"x" * 400] * 10)
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    kept = connection(f"http://hook.idp.test:{web.port}/hook", max_bytes=1000)
    with pytest.raises(outbound.TooLarge):
        await kept.post(b"{}", HEADERS)
    assert not kept.open


async def test_a_chunked_answer_within_the_cap_is_read_whole(net: Net, web: Web) -> None:
    web.routes["/hook"] = ("chunked", [b"accepted", b" ", b"all"])
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    kept = connection(f"http://hook.idp.test:{web.port}/hook")
    first = await kept.post(b"{}", HEADERS)
    second = await kept.post(b"{}", HEADERS)
    kept.close()
    assert (first.status, first.body) == (200, b"accepted all") == (second.status, second.body)
    assert net.connected_to() == [PUBLIC]


async def test_a_compressed_answer_is_refused(net: Net, web: Web) -> None:
    web.routes["/hook"] = ("headers", [("Content-Encoding", "gzip")])
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    with pytest.raises(outbound.OutboundError, match="compressed"):
        await connection(f"http://hook.idp.test:{web.port}/hook").post(b"{}", HEADERS)


async def test_a_redirect_is_an_answer_not_a_hop(net: Net, web: Web) -> None:
    web.routes["/hook"] = ("redirect", "http://169.254.169.254/latest/meta-data")
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", [PUBLIC])
    answer = await connection(f"http://hook.idp.test:{web.port}/hook").post(b"{}", HEADERS)
    assert answer.status == 302
    assert net.connected_to() == [PUBLIC]


async def test_tls_to_the_checked_address_verifies_the_name(
    net: Net, web: Web, tmp_path: Path
) -> None:
    server_ctx, client_ctx = tls_pair(tmp_path, "tls.idp.test")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,misc,unused-ignore]
    web.socket = server_ctx.wrap_socket(web.socket, server_side=True)
    web.routes["/hook"] = ("status", 200)
    net.routes[PUBLIC] = web.port
    net.name("tls.idp.test", [PUBLIC])
    net.name("other.idp.test", [PUBLIC])
    kept = connection(f"https://tls.idp.test:{web.port}/hook", verify=client_ctx)
    assert (await kept.post(b"{}", HEADERS)).status == 200
    kept.close()
    assert sni == ["tls.idp.test"]
    assert web.seen == [("/hook", f"tls.idp.test:{web.port}")]
    # the same server under a name its certificate does not carry
    other = connection(f"https://other.idp.test:{web.port}/hook", verify=client_ctx)
    with pytest.raises(ssl.SSLCertVerificationError):
        await other.post(b"{}", HEADERS)
    assert len(web.seen) == 1


class _Closing:
    """A receiver that answers ``answers`` requests on each connection, then closes it without
    saying so (``answers=0``: closes at once, without answering)."""

    def __init__(self, answers: int) -> None:
        self.answers = answers
        self.connections = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        for _ in range(self.answers):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            self.requests += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        if self.answers == 0:
            await reader.read(1)
            self.requests += 1
        writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def closing(request: pytest.FixtureRequest) -> AsyncIterator[_Closing]:
    receiver = _Closing(request.param)
    receiver.server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    async with receiver.server:
        yield receiver


@pytest.mark.parametrize("closing", [1], indirect=True)
async def test_a_connection_the_receiver_closed_while_idle_is_opened_again(
    closing: _Closing,
) -> None:
    kept = connection(f"http://127.0.0.1:{closing.port}/hook", allow_private=True)
    assert (await kept.post(b"{}", HEADERS)).status == 200
    await asyncio.sleep(0.1)  # the receiver has closed it by now
    assert (await kept.post(b"{}", HEADERS)).status == 200
    kept.close()
    assert (closing.connections, closing.requests) == (2, 2)


@pytest.mark.parametrize("closing", [0], indirect=True)
async def test_a_new_connection_closed_without_an_answer_is_a_failure_not_a_retry(
    closing: _Closing,
) -> None:
    kept = connection(f"http://127.0.0.1:{closing.port}/hook", allow_private=True)
    with pytest.raises(outbound.OutboundError, match="without an answer"):
        await kept.post(b"{}", HEADERS)
    assert closing.connections == 1


async def test_a_delivery_to_a_name_now_inside_is_logged_and_reaches_nothing(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    net: Net,
    web: Web,
) -> None:
    """From outside: a webhook registered on a name, a test event sent when the name answers
    an internal address: the attempt log says why, and no packet went inside."""
    token = await tenant.token("partnerhub:locations_read", "partnerhub:locations_write")
    web.routes["/hook"] = ("status", 200)
    net.routes[PUBLIC] = web.port
    net.name("hook.idp.test", ["127.0.0.1"])
    created = await client.post(
        "/v1/webhooks",
        json={
            "name": "hook",
            "targetUrl": f"http://hook.idp.test:{web.port}/hook",
            "resource": "locations",
            "event": "all",
        },
        headers=bearer(token),
    )
    assert created.status_code == 200, created.text
    hook = created.json()
    sent = await client.post(f"/v1/webhooks/{hook['id']}/test", headers=bearer(token))
    assert sent.status_code == 202
    await delivery.send_due(db, settings)
    log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(token))
    items = log.json()["items"]
    assert len(items) == 1 and items[0]["statusCode"] is None
    assert "not a public address" in items[0]["error"] and "127.0.0.1" in items[0]["error"]
    assert net.connects == [] and web.seen == []
