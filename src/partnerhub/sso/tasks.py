"""Housekeeping for single sign-on: forget finished attempts and expired assertion IDs."""

from __future__ import annotations

from partnerhub import runtime
from partnerhub.jobs import app
from partnerhub.models.base import utcnow
from partnerhub.sso.repository import SignInRepository


@app.periodic(cron="23 * * * *")
@app.task(name="sso.purge_expired", queue="housekeeping", queueing_lock="sso_purge")
async def purge_expired(timestamp: int) -> None:
    """Delete expired sign-in attempts and replay-protection rows, every hour."""
    async with runtime.database().transaction() as session:
        await SignInRepository(session).purge(utcnow())
