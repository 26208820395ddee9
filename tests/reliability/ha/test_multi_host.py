"""Multi-host database URLs (docs/scaling.md, "High availability"): libpq gets the configured
URL as it is, so ``postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write`` tries the
hosts in turn and keeps the first that accepts writes. Here the first host is a port nobody
listens on (a primary that is gone) and the second the suite's server: migrations, ``db
status`` and the app (ORM engine, the autocommit pool of the API's hot paths, procrastinate's
pool) all work on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
from psycopg.conninfo import conninfo_to_dict

from partnerhub.config import Settings
from partnerhub.db import migration_status, upgrade, with_database
from tests.conftest import bearer, free_port
from tests.customers.helpers import BASE, READ
from tests.factories import create_template, make_tenant


def multi_host_url(url: str) -> str:
    """``url`` as a libpq URL whose first host is dead, the real one second."""
    info = conninfo_to_dict(url)
    host = str(info.get("host") or "127.0.0.1")
    port = str(info.get("port") or "5432")
    user = quote(str(info.get("user") or "postgres"), safe="")
    password = info.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    dead = free_port()
    return (
        f"postgresql://{auth}@127.0.0.1:{dead},{quote(host, safe='')}:{port}/"
        f"{quote(str(info['dbname']), safe='')}?target_session_attrs=read-write&connect_timeout=5"
    )


def test_with_database_keeps_every_host() -> None:
    url = "postgresql://app:s3cret@db1:5432,db2:5433/partnerhub?target_session_attrs=read-write"
    info = conninfo_to_dict(with_database(url, "other"))
    assert info == {
        "user": "app",
        "password": "s3cret",
        "host": "db1,db2",
        "port": "5432,5433",
        "dbname": "other",
        "target_session_attrs": "read-write",
    }


def test_migrations_and_status_through_a_multi_host_url(clean_db: str) -> None:
    url = multi_host_url(clean_db)
    upgrade(url)
    current, head = migration_status(url)
    assert current == head
    env = {**os.environ, "PARTNERHUB_DATABASE_URL": url}
    status = subprocess.run(
        [sys.executable, "-m", "partnerhub", "db", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "up to date" in status.stdout


async def test_the_app_serves_through_a_multi_host_url(clean_db: str, tmp_path: Path) -> None:
    from partnerhub.app import create_app

    url = multi_host_url(clean_db)
    app = create_app(Settings(data_dir=tmp_path, admin_password="unused"), url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            assert (await c.get("/readyz")).status_code == 200
            tenant = await make_tenant(app.state.db, "Multi")  # the ORM engine
            template = await create_template(c, tenant)
            assert template["provisioningId"]
            token = await tenant.token(READ)
            listed = await c.get(BASE, headers=bearer(token))  # the autocommit pool (bearer check)
            assert listed.status_code == 200, listed.text
            assert listed.json()["items"] == []
        from partnerhub import jobs

        assert jobs._pool is not None
        async with jobs._pool.connection() as conn:  # procrastinate's pool
            row = await (await conn.execute("SELECT count(*) FROM procrastinate_jobs")).fetchone()
            assert row == (0,)
