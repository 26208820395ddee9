"""``partnerhub import subscribers FILE --customer ID [--dry-run]`` in a real subprocess."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select

from partnerhub.db import Database
from partnerhub.models import OrgUser, SubscriberImport
from tests.factories import NUM_WRITE, Setup, Tenant, add_numbers


async def cli(database_url: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "PARTNERHUB_DATABASE_URL": database_url, "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "partnerhub",
        "import",
        "subscribers",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(OrgUser.id)))).scalar_one())


async def test_cli_import(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup, tmp_path: Path
) -> None:
    await add_numbers(client, await tenant.token(NUM_WRITE), setup.hq_id, ["+14155550100..0149"])
    good = tmp_path / "users.csv"
    with good.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["first_name", "last_name", "email", "package", "phone_number", "extension"])
        for i in range(50):
            w.writerow(
                ["U", str(i), f"cli{i}@c.example", "webex_calling", f"+141555501{i:02d}", ""]
            )
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace("cli7@c.example", "cli7-at-c.example"))
    url = str(db.url)

    code, out = await cli(url, str(bad), "--customer", setup.id)
    assert code == 1, out
    assert "cli7-at-c.example" in out and "nothing imported" in out
    code, out = await cli(url, str(good), "--customer", setup.customer.external_id, "--dry-run")
    assert code == 0, out
    assert "50 to create" in out
    assert await count(db) == 0

    code, out = await cli(url, str(good), "--customer", setup.id)
    assert code == 0, out
    assert "50 created" in out
    assert await count(db) == 50
    result = list(csv.DictReader((tmp_path / "users.csv.result.csv").open()))
    assert [r["result"] for r in result] == ["created"] * 50

    code, out = await cli(url, str(good), "--customer", setup.id)
    assert code == 0, out
    assert "0 created, 50 already there" in out
    assert await count(db) == 50
    async with db.transaction() as session:
        statuses = (await session.execute(select(SubscriberImport.status))).scalars().all()
    # The refused file is on record too (failed, nothing imported).
    assert sorted(statuses) == ["failed", "succeeded", "succeeded"]

    code, out = await cli(url, str(good), "--customer", "nobody")
    assert code == 2 and "no customer" in out
