"""The attacker's world for the trust-boundary tests (issue 10): a real ``partnerhub serve``
process with its worker, a real SMTP server (aiosmtpd) that receives every e-mail, and three
tenants made fresh for each test:

* ``world.a`` — partner **Alpha Telecom** (a full administrator; ``world.a.add_admin(role)`` adds
  more, e.g. ``"read_only_admin"``), the tenant whose boundaries are attacked;
* ``world.b`` — partner **Beta Telecom**, unrelated: the attacker with its own account;
* ``world.sub`` — **Alpha Reseller**, a sub-partner of Alpha.

Tests talk to the server only over HTTP (``world.client()`` gives an httpx client on its base URL,
cookies kept; the server runs with ``PARTNERHUB_COOKIE_SECURE=false`` because it is plain HTTP on
127.0.0.1, which is the only difference from a default start). E-mails are read from
``world.mailbox`` — what the recipient receives — never from the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from partnerhub.db import Database
from tests.conftest import csrf_of, free_port
from tests.factories import Tenant, make_tenant
from tests.notifications.conftest import Mailbox
from tests.reliability.trust.fakenet import net, web  # noqa: F401 - the fake network's fixtures

TRUST_SECRET_KEY = "trust-tests-secret-key-0123456789abcdef"


@dataclass
class TrustServer:
    url: str
    process: subprocess.Popen[bytes]
    database_url: str
    mailbox: Mailbox
    log_path: Path


@pytest.fixture(scope="module")
def trust_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrustServer]:
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = free_port()
    log_path = tmp_path_factory.mktemp("trust") / "serve.log"
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "PARTNERHUB_ADMIN_PASSWORD": "trust-server-unused",
        "PARTNERHUB_COOKIE_SECURE": "false",
        "PARTNERHUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PARTNERHUB_SECRET_KEY": TRUST_SECRET_KEY,
        "PARTNERHUB_SMTP_HOST": "127.0.0.1",
        "PARTNERHUB_SMTP_PORT": str(smtp_port),
        "PARTNERHUB_SMTP_SECURITY": "none",
        "PARTNERHUB_SMTP_FROM": "Provisioning <noreply@hub.example>",
    }
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 40
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("trust server did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        yield TrustServer(url, proc, database_url, mailbox, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        controller.stop()


@dataclass
class World:
    server: TrustServer
    db: Database
    a: Tenant
    b: Tenant
    sub: Tenant

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def mailbox(self) -> Mailbox:
        return self.server.mailbox

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server.url, timeout=30, follow_redirects=False)

    async def signed_in(self, email: str, password: str) -> tuple[httpx.AsyncClient, str]:
        """A browser-like client signed in to the partner portal, and its CSRF token (the
        client is already open: close it with ``await client.aclose()``)."""
        client = self.client()
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "email": email,
                "password": password,
                "next": "/",
            },
        )
        assert response.status_code == 303, response.text
        page = await client.get("/customers/templates")
        assert page.status_code == 200, page.text
        return client, csrf_of(page.text)


@pytest.fixture
async def world(trust_server: TrustServer, clean_db: str) -> AsyncIterator[World]:
    """Fresh tenants on the trust server's (emptied) database; the mailbox emptied too."""
    trust_server.mailbox.messages.clear()
    trust_server.mailbox.envelopes.clear()
    db = Database(trust_server.database_url, pool_size=2)
    try:
        a = await make_tenant(db, "Alpha Telecom")
        b = await make_tenant(db, "Beta Telecom")
        sub = await make_tenant(db, "Alpha Reseller", parent=a.partner)
        yield World(trust_server, db, a, b, sub)
    finally:
        await db.dispose()


# --- added for the secrets tests (issue 10, items 1 and 2) ----------------------------------


@pytest.fixture(scope="module")
def mailless_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrustServer]:
    """A second ``partnerhub serve`` on the same database **without SMTP**: emails stay in the
    outbox (``stored``), as for an operator who hands links over themselves. Its ``mailbox`` is
    empty and stays so."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("mailless") / "serve.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARTNERHUB_SMTP")}
    env.update(
        {
            "PARTNERHUB_DATABASE_URL": database_url,
            "PARTNERHUB_PORT": str(port),
            "PARTNERHUB_DATA_DIR": str(tmp_path_factory.mktemp("mailless-data")),
            "PARTNERHUB_ADMIN_PASSWORD": "trust-server-unused",
            "PARTNERHUB_COOKIE_SECURE": "false",
            "PARTNERHUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PARTNERHUB_SECRET_KEY": TRUST_SECRET_KEY,
        }
    )
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 40
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mailless server did not start:\n" + log_path.read_text())
                time.sleep(0.2)
            yield TrustServer(url, proc, database_url, Mailbox(), log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def partnerhub_cli(server: TrustServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``partnerhub`` command on the machine, against the server's database (the
    operator's view: settings and database at hand)."""
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": server.database_url,
        "PARTNERHUB_SECRET_KEY": TRUST_SECRET_KEY,
        "PARTNERHUB_DATA_DIR": str(server.log_path.parent),
    }
    return subprocess.run(
        [sys.executable, "-m", "partnerhub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
