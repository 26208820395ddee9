"""The `partnerhub` command against a real database: db status/upgrade, token create."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from fastapi import FastAPI

from tests.conftest import bearer, portal_login
from tests.factories import Tenant


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARTNERHUB_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "partnerhub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_db_status_and_upgrade(clean_db: str) -> None:
    upgraded = run_cli("db", "upgrade", database_url=clean_db)
    assert upgraded.returncode == 0, upgraded.stderr
    status = run_cli("db", "status", database_url=clean_db)
    assert status.returncode == 0, status.stderr
    assert "up to date" in status.stdout


async def test_token_create_prints_a_working_token(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = run_cli(
        "token",
        "create",
        "--scope",
        "partnerhub:templates_read",
        "--expires",
        "1d",
        "--name",
        "ci",
        database_url=app.state.database_url,
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("ph_")
    listed = await client.get("/v1/partner/templates", headers=bearer(secret))
    assert listed.status_code == 200
    refused = await client.post("/v1/partner/templates", json={}, headers=bearer(secret))
    assert refused.status_code in (400, 403)


async def test_token_create_refuses_unknown_scope(app: FastAPI, tenant: Tenant) -> None:
    result = run_cli(
        "token", "create", "--scope", "everything", database_url=app.state.database_url
    )
    assert result.returncode == 2
    assert "unknown scope" in result.stderr
    # the refusal lists the valid scopes
    assert "valid scopes" in result.stderr
    assert "partnerhub:locations_write" in result.stderr


def test_token_create_help_describes_every_scope() -> None:
    from partnerhub.catalog.roles import ALL_SCOPES, SCOPE_DESCRIPTIONS

    result = subprocess.run(
        [sys.executable, "-m", "partnerhub", "token", "create", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert set(SCOPE_DESCRIPTIONS) == set(ALL_SCOPES)
    for scope, text in SCOPE_DESCRIPTIONS.items():
        assert f"{scope}: {text}" in flat, scope


async def test_admin_reset_password(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from partnerhub.identity.service import verify_password
    from partnerhub.models import PartnerAdmin

    email = tenant.admin.email
    result = run_cli("admin", "reset-password", email.upper(), database_url=app.state.database_url)
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    line = next(ln for ln in shown.splitlines() if "Password" in ln)
    password = line.split("Password", 1)[1].strip(" │|").split()[0]
    async with tenant.db.transaction() as session:
        stored = await session.get(PartnerAdmin, tenant.admin.id)
        assert stored is not None and stored.password_hash is not None
        assert verify_password(stored.password_hash, password)
    # the new password signs in to the portal
    await portal_login(client, email, password)
    unknown = run_cli(
        "admin", "reset-password", "nobody@nowhere.example", database_url=app.state.database_url
    )
    assert unknown.returncode == 2
    assert "no administrator" in unknown.stderr


def test_serve_help_lists_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "partnerhub", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for name in ("PARTNERHUB_DATA_DIR", "PARTNERHUB_DATABASE_URL", "PARTNERHUB_PORT"):
        assert name in result.stdout
    assert "--no-worker" in result.stdout


async def test_first_start_bootstrap_creates_partner_and_admin(db: object, clean_db: str) -> None:
    from sqlalchemy import func, select

    from partnerhub.db import Database
    from partnerhub.identity.service import bootstrap, verify_password
    from partnerhub.models import Partner, PartnerAdmin

    database = Database(clean_db, 1)
    try:
        async with database.transaction() as session:
            created = await bootstrap(session, "First Partner", "first@partner.example", None)
        assert created is not None
        admin, generated = created
        assert generated and admin.role == "full_admin"
        async with database.transaction() as session:
            again = await bootstrap(session, "Other", "x@y.example", "pw")
            partners = (await session.execute(select(func.count(Partner.id)))).scalar_one()
            stored = (await session.execute(select(PartnerAdmin))).scalar_one()
        assert again is None and partners == 1
        assert verify_password(stored.password_hash, generated)
    finally:
        await database.dispose()
