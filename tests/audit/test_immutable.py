"""Audit rows cannot be changed or deleted by any interface: the database refuses (migration
0014's trigger), whoever connects; only the operator's retention purge deletes, and only old
rows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from partnerhub.audit import service as audit
from partnerhub.db import Database
from partnerhub.errors import InvalidValue
from partnerhub.models import AuditEvent
from partnerhub.models.base import utcnow
from tests.app.test_cli import run_cli
from tests.conftest import portal_login
from tests.factories import Tenant


async def _rows(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(AuditEvent.id)))).scalar_one())


async def _one_row(client: object, tenant: Tenant, db: Database) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)  # type: ignore[arg-type]
    assert await _rows(db) >= 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor_email = 'someone-else@example.com'",
        "UPDATE audit_events SET created = created - interval '1 year'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_the_database_refuses_changes(
    client: object, tenant: Tenant, db: Database, statement: str
) -> None:
    await _one_row(client, tenant, db)
    before = await _rows(db)
    with pytest.raises(DBAPIError) as refused:
        async with db.transaction() as session:
            await session.execute(text(statement))
    assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
    assert "cannot be changed or deleted" in str(refused.value.orig)
    assert await _rows(db) == before


async def test_the_purge_switch_does_not_allow_an_update(
    client: object, tenant: Tenant, db: Database
) -> None:
    await _one_row(client, tenant, db)
    with pytest.raises(DBAPIError):
        async with db.transaction() as session:
            await session.execute(text("SET LOCAL partnerhub.audit_purge = 'on'"))
            await session.execute(text("UPDATE audit_events SET actor_email = 'x@example.com'"))


async def _old_row(db: Database, tenant: Tenant, days: int) -> uuid.UUID:
    """A row written ``days`` ago (an INSERT with its time: the only way to age a row)."""
    event = audit.build(
        audit.admin_actor(tenant.admin), "signin.success", partner_id=tenant.partner.id
    )
    event.created = utcnow() - timedelta(days=days)
    async with db.transaction() as session:
        session.add(event)
    return event.id


async def test_retention_purge_deletes_only_old_rows(
    app: FastAPI, client: object, tenant: Tenant, db: Database
) -> None:
    await _one_row(client, tenant, db)
    old = await _old_row(db, tenant, 800)
    kept = await _old_row(db, tenant, 100)
    total = await _rows(db)
    with pytest.raises(InvalidValue):
        async with db.transaction() as session:
            await audit.purge(session, timedelta(days=1))
    result = run_cli("audit", "purge", "--older-than", "400d", database_url=app.state.database_url)
    assert result.returncode == 0, result.stderr
    assert "1 audit rows deleted" in result.stdout
    async with db.transaction() as session:
        left = set((await session.execute(select(AuditEvent.id))).scalars())
    assert old not in left and kept in left
    assert len(left) == total - 1
    # The switch was for that transaction only: a DELETE afterwards is refused again.
    with pytest.raises(DBAPIError):
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM audit_events"))
