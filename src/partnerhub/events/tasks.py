"""Jobs of the event stream: the webhook delivery loop (run by every worker process beside
procrastinate's worker, ``jobs.register_loop``) and the nightly retention clean-up."""

from __future__ import annotations

import asyncio
import logging

from partnerhub import runtime
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.events import delivery
from partnerhub.events import repository as store
from partnerhub.jobs import app, register_loop

log = logging.getLogger(__name__)


DELIVERY_POOL_SIZE = 3


async def delivery_loop(settings: Settings) -> None:
    """Dispatch new events to webhooks and send due deliveries, until cancelled; restarted
    after an error (a lost database) a few seconds later. The loop has a small connection
    pool of its own: in ``serve`` (the worker in-process) its transactions never queue behind
    the API's requests for a connection."""
    shared = runtime.database()
    own = Database(shared.url, DELIVERY_POOL_SIZE, settings.database_prepared_statements)
    try:
        while True:
            try:
                await delivery.run(own, settings)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery loop failed; starting again in 5 s")
                await asyncio.sleep(5.0)
    finally:
        await own.dispose()


register_loop(delivery_loop)


@app.periodic(cron="17 3 * * *")
@app.task(name="events.purge", queue="housekeeping", queueing_lock="events.purge")
async def purge_events(timestamp: int) -> None:
    """Every night: events, deliveries and attempts older than the retention."""
    async with runtime.database().transaction() as session:
        removed = await store.purge(session, runtime.settings().events_retention_days)
    log.info(
        "purged %s events older than %s days", removed, runtime.settings().events_retention_days
    )
