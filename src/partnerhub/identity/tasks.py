"""Periodic housekeeping for credentials."""

from __future__ import annotations

from partnerhub import runtime
from partnerhub.identity.repository import CredentialRepository
from partnerhub.jobs import app
from partnerhub.models.base import utcnow


@app.periodic(cron="17 * * * *")
@app.task(name="identity.purge_expired_sessions", queue="housekeeping", queueing_lock="purge")
async def purge_expired_sessions(timestamp: int) -> None:
    """Delete portal sessions past their expiry, every hour."""
    async with runtime.database().transaction() as session:
        await CredentialRepository(session).delete_expired_sessions(utcnow())


@app.periodic(cron="*/10 * * * *")
@app.task(name="identity.purge_rate_counters", queue="housekeeping", queueing_lock="purge-rates")
async def purge_rate_counters(timestamp: int) -> None:
    """Drop rate-limit windows older than ten minutes."""
    from datetime import timedelta

    from partnerhub.kit import ratelimit

    async with runtime.database().transaction() as session:
        await ratelimit.purge(session, utcnow() - timedelta(minutes=10))
