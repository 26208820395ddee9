"""Housekeeping for sign-in: finished SSO attempts, expired assertion IDs, expired customer
portal sessions and old invitation/reset links."""

from __future__ import annotations

from datetime import timedelta

from partnerhub import runtime
from partnerhub.identity.repository import OrgIdentityRepository
from partnerhub.jobs import app
from partnerhub.models.base import utcnow
from partnerhub.sso.repository import SignInRepository


@app.periodic(cron="23 * * * *")
@app.task(name="sso.purge_expired", queue="housekeeping", queueing_lock="sso_purge")
async def purge_expired(timestamp: int) -> None:
    """Delete expired sign-in attempts and replay-protection rows, every hour."""
    async with runtime.database().transaction() as session:
        await SignInRepository(session).purge(utcnow())


@app.periodic(cron="29 * * * *")
@app.task(name="identity.purge_org_sessions", queue="housekeeping", queueing_lock="org_purge")
async def purge_org_sessions(timestamp: int) -> None:
    """Delete expired customer-portal sessions, and links expired more than a week ago."""
    now = utcnow()
    async with runtime.database().transaction() as session:
        await OrgIdentityRepository(session).purge(
            sessions_before=now, links_before=now - timedelta(days=7)
        )
