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
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
import psycopg
from procrastinate import manager as procrastinate_manager
from procrastinate.exceptions import ConnectorException
from psycopg_pool import AsyncConnectionPool

from partnerhub.config import Settings

log = logging.getLogger(__name__)

TASK_MODULES = [
    "partnerhub.identity.tasks",
    "partnerhub.customers.tasks",
    "partnerhub.notifications.tasks",
    "partnerhub.subscribers.tasks",
    "partnerhub.sso.tasks",
    "partnerhub.billing.tasks",
    "partnerhub.events.tasks",
]

STATUS_WRITE_SECONDS = 30.0  # how long a worker keeps trying to record a job's outcome


def lost_database(exc: BaseException) -> bool:
    """``exc`` (or what it wraps: procrastinate wraps driver errors) is a lost connection: a
    psycopg ``OperationalError`` (SQLSTATE classes 08 and 57 — a restart, a failover,
    PgBouncer's "server login has been failing") or psycopg's own ``InternalError`` without a
    server's SQLSTATE (a connection that dropped under the statement)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.OperationalError) or (
            isinstance(seen, psycopg.InternalError) and seen.sqlstate is None
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class JobManager(procrastinate_manager.JobManager):
    """procrastinate's job manager, except that the outcome of a job (finished, or to be
    retried) is written again while the database is away, for up to
    :data:`STATUS_WRITE_SECONDS`.

    Without it, a job whose status write met a PostgreSQL restart stayed ``doing`` under a
    worker that lived on (found by the PgBouncer scale-out run): the reconciler re-runs only
    jobs of *dead* workers, and the job's lock kept the customer's next job waiting for ever.
    A write that did commit before its answer was lost is refused when repeated (the job is no
    longer ``doing``), which ends the retries with the job's outcome recorded."""

    async def _again(self, write: Any) -> None:
        deadline = time.monotonic() + STATUS_WRITE_SECONDS
        delay = 0.2
        while True:
            try:
                await write()
                return
            except ConnectorException as exc:
                if not lost_database(exc) or time.monotonic() >= deadline:
                    raise
                log.warning("could not record a job's outcome (database away); again")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        await self._again(lambda: super(JobManager, self).finish_job(*args, **kwargs))

    async def retry_job(self, *args: Any, **kwargs: Any) -> None:
        await self._again(lambda: super(JobManager, self).retry_job(*args, **kwargs))


# Loops a worker process runs beside procrastinate's worker (the webhook deliveries:
# events/tasks.py registers its loop when the task modules are imported).
WorkerLoop = Callable[[Settings], Awaitable[None]]
WORKER_LOOPS: list[WorkerLoop] = []


def register_loop(loop: WorkerLoop) -> WorkerLoop:
    if loop not in WORKER_LOOPS:
        WORKER_LOOPS.append(loop)
    return loop


app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)
app.job_manager = JobManager(connector=app.connector)  # before the tasks register
_pool: AsyncConnectionPool | None = None


async def open_app(
    url: str, pool_size: int = 4, prepared_statements: bool = True
) -> procrastinate.App:
    """Open the procrastinate app on the configured database, once per process."""
    global _pool
    if _pool is None:
        from partnerhub.db import driver_options

        app.perform_import_paths()
        _pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs=driver_options(prepared_statements),
        )
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


async def run_configured_worker(settings: Settings, concurrency: int | None = None) -> None:
    """:func:`run_worker` as the settings say (concurrency, heartbeat, graceful stop, LISTEN
    or polling), with the registered :data:`WORKER_LOOPS` beside it."""
    app.perform_import_paths()
    worker = run_worker(
        concurrency or settings.worker_concurrency,
        settings.worker_heartbeat_seconds(),
        settings.shutdown_seconds,
        listen=settings.worker_listen,
        poll=settings.worker_poll(),
    )
    await asyncio.gather(worker, *(loop(settings) for loop in WORKER_LOOPS))


async def run_worker(
    concurrency: int,
    heartbeat: float = 10.0,
    shutdown_seconds: float = 10.0,
    listen: bool = True,
    poll: float = 5.0,
) -> None:
    """Run a worker until cancelled (in-process under ``serve``; ``partnerhub worker`` cancels
    it on SIGINT/SIGTERM). On cancellation procrastinate lets running jobs finish for
    ``shutdown_seconds``, then aborts the rest: a job whose task
    retries (provisioning, emails) goes back to the queue at once, the others' work is taken
    up again by the reconcilers.

    With ``listen`` the worker hears of new jobs by LISTEN/NOTIFY on a connection of its own
    and also looks every ``poll`` seconds; without (``PARTNERHUB_WORKER_LISTEN=false``, behind
    PgBouncer in transaction pooling mode) it only looks every ``poll`` seconds.

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
                listen_notify=listen,
                fetch_job_polling_interval=poll,
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
