"""The hourly housekeeping forgets finished sign-in state and keeps what is still live."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from partnerhub.db import Database
from partnerhub.identity import org_auth
from partnerhub.models import IdentityLink, OrgSession, SsoRequest
from partnerhub.models.base import utcnow
from partnerhub.sso import tasks
from tests.factories import Tenant, make_org


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_purges_only_what_expired(app: object, tenant: Tenant, db: Database) -> None:
    _, user = await make_org(db, tenant)
    now = utcnow()
    async with db.transaction() as session:
        for expires in (now - timedelta(minutes=1), now + timedelta(minutes=5)):
            session.add(
                SsoRequest(
                    id=uuid.uuid4(),
                    kind="oidc",
                    request_key=uuid.uuid4().hex,
                    partner_id=tenant.partner.id,
                    browser_hash=b"x" * 32,
                    next_url="/",
                    created=now,
                    expires=expires,
                )
            )
        await org_auth.open_session(session, user.id, via="password")
        await org_auth.issue_link(session, user.id, org_auth.INVITATION, timedelta(days=-8))
        await org_auth.issue_link(session, user.id, org_auth.INVITATION)
    async with db.transaction() as session:
        expired = await org_auth.open_session(session, user.id, via="password")
        record = await session.get(OrgSession, org_auth.hash_secret(expired))
        assert record is not None
        record.expires = now - timedelta(seconds=1)
    await tasks.purge_expired(0)
    await tasks.purge_org_sessions(0)
    assert await _count(db, SsoRequest) == 1
    assert await _count(db, OrgSession) == 1
    assert await _count(db, IdentityLink) == 1
