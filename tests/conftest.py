"""Test harness: one real PostgreSQL per test session, a clean database for every test.

The database is the embedded server (a fresh data directory per session) unless
``PARTNERHUB_TEST_DATABASE_URL`` names an external server, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``; a database ``partnerhub_test`` is then
(re)created on that server. Every test starts from empty tables.
"""

from __future__ import annotations

import os
import re
import secrets
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
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from partnerhub.config import Settings
from partnerhub.db import Database, upgrade
from partnerhub.identity import service as identity
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


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A new, empty database on the suite's server."""
    name = "partnerhub_migrate_" + secrets.token_hex(4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Passwords hashed in this process use argon2's cheapest parameters: most tests make a
    partner administrator (one hash: ~0.3 s at the production cost on a loaded 2-core
    machine) or sign in (one verification). Servers started as processes keep the production
    cost; ``real_password_cost`` gives it back to a test that measures it; the production
    parameters are checked in ``tests/app/test_tokens.py``."""
    previous = identity.use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    identity.use_password_hasher(previous)


@pytest.fixture
def real_password_cost() -> Iterator[None]:
    """The production argon2 cost for this test's hashes (a test that times sign-ins)."""
    previous = identity.use_password_hasher(PasswordHasher())
    yield
    identity.use_password_hasher(previous)


KEPT_TABLES = ("alembic_version", "procrastinate_workers")


@dataclass
class _Schema:
    """The tables to empty, children before parents, and the sequences they own."""

    tables: list[str]
    sequences: list[str]

    @property
    def probe(self) -> str:
        """The tables holding rows."""
        return " UNION ALL ".join(
            f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in self.tables
        )

    @property
    def lock(self) -> str:
        """Every table, against writers only (readers go on): a live server's worker may be
        writing its job rows while a test empties them (``_clean``)."""
        names = ", ".join(f'"{t}"' for t in self.tables)
        return f"LOCK TABLE {names} IN EXCLUSIVE MODE"

    @property
    def restart(self) -> str:
        return "SELECT " + ", ".join(["1", *(f"setval('{s}', 1, false)" for s in self.sequences)])


_SCHEMAS: dict[str, _Schema] = {}


def _schema(conn: psycopg.Connection[tuple[object, ...]], url: str) -> _Schema:
    if url not in _SCHEMAS:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND NOT tablename = ANY(%s) ORDER BY tablename",
                (list(KEPT_TABLES),),
            )
        ]
        parents: dict[str, set[str]] = {t: set() for t in tables}
        for child, parent in conn.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid <> confrelid"
        ):
            if child in parents and parent in parents:
                parents[str(child)].add(str(parent))
        ordered: list[str] = []  # parents first, then reversed: children first
        while len(ordered) < len(tables):
            ready = [t for t in tables if t not in ordered and parents[t] <= set(ordered)]
            assert ready, f"a foreign-key cycle among {set(tables) - set(ordered)}"
            ordered.extend(ready)
        sequences = [
            str(r[0])
            for r in conn.execute(
                "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
                "JOIN pg_class t ON t.oid = d.refobjid "
                "WHERE s.relkind = 'S' AND d.deptype = 'a' AND t.relname = ANY(%s)",
                (tables,),
            )
        ]
        _SCHEMAS[url] = _Schema(list(reversed(ordered)), sequences)
    return _SCHEMAS[url]


_CONNECTIONS: dict[str, psycopg.Connection[tuple[object, ...]]] = {}


def _connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """One kept connection per database for the emptying (a new one costs ~20 ms)."""
    conn = _CONNECTIONS.get(url)
    if conn is None or conn.closed or conn.broken:
        conn = _CONNECTIONS[url] = psycopg.connect(url, autocommit=True)
    return conn


def _clean(url: str) -> None:
    """Empty every table a test wrote to, as ``TRUNCATE ... RESTART IDENTITY`` would.

    One prepared statement finds the tables holding rows; only those are emptied, with
    ``DELETE`` in foreign-key order (children first), and the sequences restart; in one
    transaction. (A ``TRUNCATE`` of all thirty tables makes new files for every table and
    index: ~0.2 s a test on a shared 2-core machine; this is a few milliseconds.)

    The tables are locked against writers first (``EXCLUSIVE``: reads go on). Without it, a
    live server's worker (module-scoped, started before the test's emptying) could insert a
    row between the probe or the ``DELETE`` and the sequences' restart: the row stayed with
    the old sequence's id, the restarted sequence then handed that id out again, and a later
    insert failed on the primary key — the billing fuzz test's one-off 500 in CI
    (``procrastinate_events_pkey``, from the render job deferred with a new report;
    tests/billing/test_report_edges.py)."""
    for attempt in range(5):
        conn = _connection(url)
        schema = _schema(conn, url)
        try:
            with conn.transaction():
                conn.execute(schema.lock)
                written = {str(r[0]) for r in conn.execute(schema.probe, prepare=True)}
                emptying = [f'DELETE FROM "{t}"' for t in schema.tables if t in written]
                if "audit_events" in written:  # the retention purge's switch (docs/audit.md)
                    emptying.insert(0, "SET LOCAL partnerhub.audit_purge = 'on'")
                conn.execute("; ".join([*emptying, schema.restart]))
            return
        # A live server's worker may be taking locks on the job tables while a test empties
        # them: a deadlock then picks one side; the emptying tries again. A test may also
        # have ended every session of the database (the kept connection among them).
        except (psycopg.errors.DeadlockDetected, psycopg.OperationalError):
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
    log_path: Path | None = None

    def unhandled(self) -> str:
        """What the server logged of its unhandled errors (their tracebacks), for a failing
        test's message: a 500 seen by a client names only a tracking id."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return unhandled_errors(self.log_path.read_text(errors="replace"))


# A log record's first line: the hub's logging (a timestamp) or uvicorn's ("INFO:     ...").
_LOG_RECORD = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}|(?:INFO|WARNING|ERROR):\s)", re.MULTILINE
)


def unhandled_errors(log: str, first: int = 3, limit: int = 8000) -> str:
    """The ``unhandled error`` records of a server's log (the ``first`` few), each to the next
    record, without the frames of libraries (``site-packages``, the standard library): what
    is left, the project's frames and every exception's own line (a chain's cause first), is
    cut to its last ``limit`` characters, where the final exception is."""
    out = []
    for match in list(re.finditer("unhandled error", log))[:first]:
        end = _LOG_RECORD.search(log, match.end())
        lines: list[str] = []
        library = False
        for line in log[match.start() : end.start() if end else len(log)].splitlines():
            if line.startswith('  File "'):
                library = "/site-packages/" in line or "/lib/python3" in line
                if library:
                    continue
            elif library and line.startswith("    "):
                continue
            else:
                library = False
            lines.append(line)
        block = "\n".join(lines)
        if len(block) > limit:
            block = lines[0] + "\n[...]\n" + block[-limit:]
        out.append(block)
    return "\n\n".join(out)


@pytest.fixture(scope="module")
def live_server_env() -> dict[str, str]:
    """Settings of the module's live server beyond the defaults (a module overrides this
    fixture, e.g. to let webhooks reach a local receiver)."""
    return {}


@pytest.fixture(scope="module")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, live_server_env: dict[str, str]
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
        **live_server_env,
    }
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # an import and migrations on a loaded machine
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
    yield LiveServer(url, proc, database_url, log_path)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
async def live_db(live_server: LiveServer, clean_db: str) -> AsyncIterator[Database]:
    """The live server's database, emptied for this test (create tenants with make_tenant)."""
    db = Database(live_server.database_url, pool_size=2)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def acme(live_db: Database) -> Tenant:
    """A partner of the live server's database."""
    return await make_tenant(live_db, "Acme")
