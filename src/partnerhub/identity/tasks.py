"""Periodic housekeeping for credentials."""

from __future__ import annotations

from partnerhub import runtime
from partnerhub.identity.repository import CredentialRepository
from partnerhub.jobs import app
from partnerhub.kit.request_context import Origin
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
    """Drop rate-limit windows older than ten minutes, and attempt counters expired as long."""
    from datetime import timedelta

    from partnerhub.kit import ratelimit

    async with runtime.database().transaction() as session:
        await ratelimit.purge(session, utcnow() - timedelta(minutes=10))
        await ratelimit.purge_attempts(session, utcnow() - timedelta(minutes=10))


@app.task(name="identity.password_reset_request", queue="emails")
async def password_reset_request(
    email: str, ip: str = "", user_agent: str = "", tracking_id: str = ""
) -> None:
    """A reset request from /signin/forgot: the look-up, the audit row (with the request's
    client address, user agent and TrackingID), the link and the email, away from the request
    (whose answer and timing are then the same for every address)."""
    from partnerhub.identity import org_auth

    where = Origin(ip=ip, user_agent=user_agent, tracking_id=tracking_id)
    async with runtime.database().transaction() as session:
        email_id = await org_auth.request_password_reset(session, email, where)
    await org_auth.deliver_later(email_id)


async def request_password_reset_later(email: str, where: Origin) -> None:
    await password_reset_request.defer_async(
        email=email, ip=where.ip, user_agent=where.user_agent, tracking_id=where.tracking_id
    )
