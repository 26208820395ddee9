"""Regression: processes starting together on an empty database bootstrap one partner.

``partnerhub serve`` creates the first partner when there is none. Two servers starting at once
both counted zero partners and both created one (found by the scale-out run); the bootstrap now
takes a transaction-level advisory lock before counting.
"""

from __future__ import annotations

import asyncio

import psycopg

from partnerhub.db import Database
from partnerhub.identity.service import bootstrap


async def _boot(db: Database, email: str) -> object:
    async with db.transaction() as session:
        return await bootstrap(session, "Starting together", email, "a-long-enough-password")


async def test_concurrent_bootstraps_create_one_partner(clean_db: str) -> None:
    databases = [Database(clean_db, 1) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(_boot(db, f"admin{i}@start.example") for i, db in enumerate(databases))
        )
    finally:
        for db in databases:
            await db.dispose()
    assert sum(r is not None for r in results) == 1
    with psycopg.connect(clean_db) as conn:
        partners = conn.execute("SELECT count(*) FROM partners").fetchone()
        admins = conn.execute("SELECT count(*) FROM partner_admins").fetchone()
    assert partners == (1,)
    assert admins == (1,)
