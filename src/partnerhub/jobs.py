"""Background work on procrastinate (PostgreSQL-backed): the app, task modules, periodic jobs.

Tasks live in each domain's ``tasks.py`` and register on :data:`app`. A request defers a job
only after its transaction commits; periodic reconcilers re-defer work for rows stuck in a
non-terminal state, so a crash between commit and defer loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

TASK_MODULES = [
    "partnerhub.identity.tasks",
    "partnerhub.customers.tasks",
    "partnerhub.notifications.tasks",
    "partnerhub.subscribers.tasks",
    "partnerhub.sso.tasks",
]

app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)
_pool: AsyncConnectionPool | None = None


async def open_app(url: str, pool_size: int = 4) -> procrastinate.App:
    """Open the procrastinate app on the configured database, once per process."""
    global _pool
    if _pool is None:
        app.perform_import_paths()
        _pool = AsyncConnectionPool(url, min_size=1, max_size=pool_size, open=False)
        await _pool.open()
        await app.open_async(_pool)
    return app


async def close_app() -> None:
    global _pool
    if _pool is not None:
        await app.close_async()
        await _pool.close()
        _pool = None
        # procrastinate keeps an externally supplied pool after close_async(): forget it, so
        # that a later open_app() (tests open one app per test) really uses the new pool.
        connector = app.connector
        if isinstance(connector, procrastinate.PsycopgConnector):
            connector._async_pool = None
            connector._pool_externally_set = False


async def run_worker(
    concurrency: int, heartbeat: float = 10.0, shutdown_seconds: float = 10.0
) -> None:
    """Run a worker until cancelled (in-process under ``serve``; ``partnerhub worker`` cancels
    it on SIGINT/SIGTERM). On cancellation procrastinate lets running jobs finish for
    ``shutdown_seconds``, then aborts the rest: a job whose task
    retries (provisioning, emails) goes back to the queue at once, the others' work is taken
    up again by the reconcilers.

    A worker also stops by itself when it loses the database (a restart, a failover: its
    listener fails), ending with an error or normally: either way it starts again, 1 s and then
    up to 5 s apart, and resumes once the database is back."""
    delay = 1.0
    while True:
        began = time.monotonic()
        try:
            await app.run_worker_async(
                concurrency=concurrency,
                install_signal_handlers=False,
                wait=True,
                update_heartbeat_interval=heartbeat,
                shutdown_graceful_timeout=shutdown_seconds,
            )
            why = "stopped by itself"
        except (ConnectorException, psycopg.Error, OSError) as exc:
            why = f"lost the database ({exc.__class__.__name__})"
        if time.monotonic() - began > 60:
            delay = 1.0
        log.warning("worker %s; starting again in %.0f s", why, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
        if _pool is not None:  # drop the connections the database closed, not one per try
            with contextlib.suppress(Exception):
                await _pool.check()
