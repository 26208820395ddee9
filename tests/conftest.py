"""Test harness: one real PostgreSQL per test session, a clean database for every test.

The database is the embedded server (a fresh data directory per session) unless
``PARTNERHUB_TEST_DATABASE_URL`` names an external server, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``; a database ``partnerhub_test`` is then
(re)created on that server. Every test starts from empty tables.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from partnerhub.config import Settings
from partnerhub.db import Database, upgrade
from tests.factories import Tenant, bearer, make_tenant  # noqa: F401 - bearer: re-exported

TEST_DB = "partnerhub_test"


def _external_url(base: str) -> str:
    """(Re)create the test database on an external server; returns its URL."""
    admin_url = base
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (TEST_DB,)
        )
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
        conn.execute(f"CREATE DATABASE {TEST_DB}")
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=TEST_DB).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    external = os.environ.get("PARTNERHUB_TEST_DATABASE_URL")
    if external:
        url = _external_url(external)
        upgrade(url)
        yield url
        return
    from partnerhub.db import database_url as resolve
    from partnerhub.db import release_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="partnerhub-test-"))
    url = resolve(Settings(data_dir=data_dir))
    upgrade(url)
    yield url
    release_embedded()  # this session was its only user: the server stops
    shutil.rmtree(data_dir, ignore_errors=True)


APP_TABLES = (
    "partners",
    "procrastinate_jobs",
    "procrastinate_periodic_defers",
    "procrastinate_events",
)


def _clean(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'procrastinate_workers')"
            )
        ]
        # A live server's worker may be starting up (taking locks on the job tables) while a
        # test empties the tables: a deadlock then picks one side; the truncation tries again.
        for attempt in range(5):
            try:
                conn.execute(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise
                time.sleep(0.2)


@pytest.fixture
def clean_db(database_url: str) -> str:
    _clean(database_url)
    return database_url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, cookie_secure=True, admin_password="unused")


@pytest.fixture
async def app(settings: Settings, clean_db: str) -> AsyncIterator[FastAPI]:
    from partnerhub.app import create_app

    application = create_app(settings, clean_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


# --- partners (tests/factories.py makes them) -----------------------------------------


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await make_tenant(db, "Acme")


@pytest.fixture
async def other_tenant(db: Database) -> Tenant:
    return await make_tenant(db, "Globex")


def assert_error(response: httpx.Response, status: int, code: int) -> dict[str, object]:
    """The contract's error body, with the expected status and first error code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "errors", "trackingId"}, body
    assert body["errors"] and body["errors"][0]["errorCode"] == code, body
    assert body["message"] == body["errors"][0]["description"]
    assert body["trackingId"] == response.headers["TrackingID"]
    return body


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def portal_login(client: httpx.AsyncClient, email: str, password: str) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password, "next": "/"},
    )
    assert response.status_code == 303, response.text
    page = await client.get("/customers/templates")
    assert page.status_code == 200
    return csrf_of(page.text)


# --- a real server process (browser and process-level tests) ---------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    database_url: str


@pytest.fixture(scope="module")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``partnerhub serve`` in a subprocess on the test database (with its worker).

    Module-scoped: its worker would otherwise keep taking the jobs of later tests (which run
    their own worker with their own settings: fault backend, SMTP server)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("live") / "serve.log"
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "PARTNERHUB_ADMIN_PASSWORD": "live-server-unused",
    }
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(log_path.read_text())
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not become ready:\n" + log_path.read_text())
    yield LiveServer(url, proc, database_url)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
