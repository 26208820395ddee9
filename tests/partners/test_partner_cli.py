"""``partnerhub partner create`` and ``partnerhub partner list``, run as the operator runs them
(``python -m partnerhub`` in a subprocess, on the test database): the new partner's first full
administrator signs in with the password printed once; ``--parent`` makes a sub-partner its
parent then sees; a refused creation writes nothing."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import Partner
from tests.conftest import bearer, portal_login
from tests.factories import Tenant

SUB_READ = "spark-admin:wholesale_sub_partners_read"


def _run(
    database_url: str, cwd: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_DATA_DIR": str(cwd),
        "PARTNERHUB_PUBLIC_URL": "https://hub.example",
    }
    return subprocess.run(
        [sys.executable, "-m", "partnerhub", "partner", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def run(database_url: str, cwd: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    done = await asyncio.to_thread(_run, database_url, cwd, *args, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


def field(stdout: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


async def partners(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(Partner.id)))).scalar_one())


async def test_create_a_partner_and_sign_in(
    client: httpx.AsyncClient, db: Database, clean_db: str, tmp_path: Path
) -> None:
    code, out, err = await run(
        clean_db,
        tmp_path,
        "create",
        "Cli Telecom",
        "--admin-email",
        "Ops@Cli-Telecom.example",
        "--admin-name",
        "Olga Ops",
        "--pstn-provider",
        "Carrier A",
        "--pstn-provider",
        "Carrier B",
    )
    assert code == 0, err
    assert "Created partner 'Cli Telecom'" in out
    partner_id = field(out, "partner id")
    password = field(out, "password")
    assert field(out, "organization id") == ids.encode(
        "ORGANIZATION", uuid.UUID(partner_id), ids.HUB
    )
    assert field(out, "administrator") == "Ops@cli-telecom.example"
    assert "https://hub.example/login" in out
    async with db.transaction() as session:
        partner = await session.get(Partner, uuid.UUID(partner_id))
    assert partner is not None and partner.parent_id is None
    assert partner.settings["pstnProviders"] == ["Carrier A", "Carrier B"]
    # The printed password signs the administrator in to their partner.
    await portal_login(client, "ops@cli-telecom.example", password)
    settings = await client.get("/settings/partner")
    assert "Cli Telecom" in settings.text and "Carrier B" in settings.text

    # A sub-partner of it (given by its organization id), with a password from stdin.
    code, out, err = await run(
        clean_db,
        tmp_path,
        "create",
        "Cli Reseller",
        "--admin-email",
        "boss@cli-reseller.example",
        "--parent",
        field(out, "organization id"),
        "--password-stdin",
        stdin="a password from stdin\n",
    )
    assert code == 0, err
    assert "Created sub-partner 'Cli Reseller'" in out and "password:" not in out
    sub_org = field(out, "organization id")
    client.cookies.clear()
    await portal_login(client, "boss@cli-reseller.example", "a password from stdin")
    # Its parent sees it, and lists every partner with the other command.
    client.cookies.clear()
    await portal_login(client, "ops@cli-telecom.example", password)
    page = await client.get("/sub-partners")
    assert "Cli Reseller" in page.text and sub_org in page.text
    code, out, err = await run(clean_db, tmp_path, "list")
    assert code == 0, err
    assert "Cli Telecom" in out and "Cli Reseller" in out and sub_org in out and partner_id in out


async def test_refused_creations_write_nothing(
    db: Database, clean_db: str, tenant: Tenant, tmp_path: Path
) -> None:
    before = await partners(db)
    for args, message, stdin in [
        (("create", "Dup", "--admin-email", tenant.admin.email.upper()), "already belongs", ""),
        (("create", "Bad", "--admin-email", "not-an-email"), "not a valid email", ""),
        (("create", " ", "--admin-email", "a@ok.example"), "name", ""),
        (("create", "Orphan", "--admin-email", "b@ok.example", "--parent", "nope"), "--parent", ""),
        (
            ("create", "Orphan", "--admin-email", "b@ok.example", "--parent", str(uuid.uuid4())),
            "no partner",
            "",
        ),
        (("create", "Weak", "--admin-email", "c@ok.example", "--password-stdin"), "12", "short\n"),
    ]:
        code, out, err = await run(clean_db, tmp_path, *args, stdin=stdin)
        assert code == 2, (args, out, err)
        assert message in err, (args, err)
        assert "password:" not in out
    assert await partners(db) == before


async def test_the_tenant_factory_is_the_supported_operation(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """``make_tenant`` creates through the same service: the full administrator signs in, and
    an API token works."""
    await portal_login(client, tenant.admin.email, tenant.password)
    token = await tenant.token(SUB_READ)
    assert (await client.get("/v1/wholesale/subPartners", headers=bearer(token))).json() == {
        "items": []
    }
