"""Background work on procrastinate (PostgreSQL-backed): the app, task modules, periodic jobs.

Tasks live in each domain's ``tasks.py`` and register on :data:`app`. A request defers a job
only after its transaction commits; periodic reconcilers re-defer work for rows stuck in a
non-terminal state, so a crash between commit and defer loses nothing.
"""

from __future__ import annotations

import logging

import procrastinate
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


async def run_worker(concurrency: int) -> None:
    """Run a worker until cancelled (in-process under ``serve``, or ``partnerhub worker``)."""
    await app.run_worker_async(concurrency=concurrency, install_signal_handlers=False, wait=True)
