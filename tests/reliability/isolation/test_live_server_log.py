"""A real ``partnerhub serve`` at ``PARTNERHUB_LOG_LEVEL=debug`` (uvicorn's access log on, its
worker delivering email through an SMTP server that insists on AUTH): after the walk of
``secret_walk.walk`` its output (stderr and stdout) holds none of the secrets, while the
access log did record the requests (with the link tokens redacted). The same server shows
HSTS only to requests that came over TLS, as a TLS-terminating proxy on the same host says with
``X-Forwarded-Proto`` (uvicorn's proxy headers, trusted from 127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import _clean, free_port
from tests.reliability.isolation import secret_walk as walk
from tests.sso.oidc_provider import OidcProvider

ADMIN_EMAIL = "root@hub.example"
ADMIN_PASSWORD = "admin-Secret-pw-61af0c"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    box: walk.Mailbox

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _clean(database_url)
    box = walk.Mailbox()
    smtp_port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=smtp_port,
        authenticator=box,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "PARTNERHUB_PUBLIC_URL": url,
        "PARTNERHUB_COOKIE_SECURE": "false",
        "PARTNERHUB_ADMIN_EMAIL": ADMIN_EMAIL,
        "PARTNERHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PARTNERHUB_LOG_LEVEL": "debug",
        "PARTNERHUB_SMTP_HOST": "127.0.0.1",
        "PARTNERHUB_SMTP_PORT": str(smtp_port),
        "PARTNERHUB_SMTP_USERNAME": walk.SMTP_USER,
        "PARTNERHUB_SMTP_PASSWORD": walk.SMTP_PASSWORD,
        "PARTNERHUB_SMTP_SECURITY": "none",
        "PARTNERHUB_SECRET_KEY": walk.SECRET_KEY,
        "PARTNERHUB_SSO_ALLOW_PRIVATE_ADDRESSES": "true",
        "PARTNERHUB_PROVISIONING_RETRY_SECONDS": "0.2",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.2)
        yield Server(url, process, log, box)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        controller.stop()


async def test_hsts_only_over_tls_as_the_proxy_says(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        plain = await client.get("/login")
        assert plain.status_code == 200
        assert "strict-transport-security" not in plain.headers
        proxied = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert proxied.status_code == 200
        assert proxied.headers["strict-transport-security"].startswith("max-age=")
        api = await client.get("/readyz", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" in api.headers
        assert "strict-transport-security" not in (await client.get("/readyz")).headers


async def test_no_secret_in_the_server_output_at_debug(server: Server) -> None:
    oidc = OidcProvider()
    try:
        oidc_client = oidc.add_client(f"{server.url}/sso/oidc/x/callback")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            secrets = await walk.walk(
                client,
                ADMIN_EMAIL,
                ADMIN_PASSWORD,
                server.box,
                contextlib.nullcontext,
                oidc.issuer,
                oidc_client.client_id,
            )
    finally:
        oidc.close()
    server.process.terminate()  # flush everything the server had to say
    server.process.wait(15)
    output = server.output()
    # the access log was on and saw the requests, links included (redacted)
    assert '"POST /login HTTP/1.1" 303' in output, output[-3000:]
    assert "/account/set-password/[redacted]" in output, output[-3000:]
    assert "/account/reset-password/[redacted]" in output
    leaked = {
        name: [line[:300] for line in output.splitlines() if secrets.values[name] in line][:2]
        for name in secrets.found_in(output)
    }
    assert not leaked, f"secrets in the server's output: {leaked}"
