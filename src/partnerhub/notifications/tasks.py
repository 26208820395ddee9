"""Jobs that deliver the outbox."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

from procrastinate import RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued

from partnerhub import runtime
from partnerhub.jobs import app
from partnerhub.models.base import utcnow
from partnerhub.notifications import service
from partnerhub.notifications.repository import pending_before

log = logging.getLogger(__name__)


@app.task(
    name="notifications.deliver_email",
    queue="emails",
    retry=RetryStrategy(max_attempts=service.MAX_ATTEMPTS, exponential_wait=5),
)
async def deliver_email(email_id: str) -> None:
    """Send one outbox email through SMTP (no-op when already sent)."""
    await service.deliver(uuid.UUID(email_id))


async def enqueue(email_id: uuid.UUID) -> None:
    """Defer delivery; call after the transaction that wrote the email has committed."""
    key = f"email:{email_id}"
    with contextlib.suppress(AlreadyEnqueued):
        await deliver_email.configure(lock=key, queueing_lock=key).defer_async(
            email_id=str(email_id)
        )


@app.periodic(cron="* * * * *")
@app.task(name="notifications.flush_outbox", queue="housekeeping", queueing_lock="flush_outbox")
async def flush_outbox(timestamp: int) -> None:
    """Every minute: re-defer emails left ``pending`` (a crash between commit and defer)."""
    if not service.smtp_configured():
        return
    async with runtime.database().transaction() as session:
        ids = await pending_before(session, utcnow() - timedelta(seconds=30))
    for email_id in ids:
        await enqueue(email_id)
