"""Jobs of the billing reports: render one (CSV streamed by ``COPY`` into the data dir), the
reconciler (a report left in progress without a job), and the ledger's yearly partitions."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from datetime import UTC, datetime

import psycopg
from procrastinate import JobContext
from procrastinate.exceptions import AlreadyEnqueued

from partnerhub import runtime
from partnerhub.billing import repository, service
from partnerhub.db import driver_options
from partnerhub.jobs import app
from partnerhub.models.base import utcnow

log = logging.getLogger(__name__)

RENDER_TASK = repository.RENDER_TASK
RETRIES = 2
WORK_MEM = "256MB"
lock_of = repository.job_lock


@app.task(name=RENDER_TASK, queue=repository.RENDER_QUEUE, pass_context=True, retry=RETRIES)
async def render(context: JobContext, report_id: str) -> None:
    """Render one report (idempotent: a report no longer in progress is left alone)."""
    final = context.job.attempts >= RETRIES
    await render_now(uuid.UUID(report_id), final=final)


async def render_now(report_id: uuid.UUID, final: bool = True) -> str | None:
    """Stream the report's CSV from PostgreSQL into ``<data dir>/billing/<id>.csv`` and mark it
    ``COMPLETED`` (or ``FAILED`` with the reason when ``final``; otherwise the error is raised
    for a retry). Returns the status written, None when there was nothing to do."""
    db = runtime.database()
    async with db.transaction() as session:
        report = await repository.load_report(session, report_id)
        if report is None or report.status != repository.IN_PROGRESS:
            return None
        partners = await repository.partners_of(session, report)
        statement, params = repository.copy_statement(report, partners)
    target = service.file_path(report_id)
    part = target.with_suffix(".part")
    size = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        settings = runtime.settings()
        async with await psycopg.AsyncConnection.connect(
            db.url, autocommit=True, **driver_options(settings.database_prepared_statements)
        ) as conn:
            # One transaction, its settings LOCAL: nothing is left on a server connection
            # (PgBouncer in transaction pooling mode). The grouping of a million lines stays in
            # the server's memory rather than on disk; the rendering process streams either way.
            async with conn.transaction():
                await conn.execute("SET LOCAL TIME ZONE 'UTC'")
                await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
                async with conn.cursor() as cur, cur.copy(statement, params) as copy:
                    with part.open("wb") as out:
                        async for chunk in copy:
                            out.write(chunk)
                            size += len(chunk)
        os.replace(part, target)
    except Exception as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        if not final:
            raise
        log.warning("billing report %s could not be rendered", report_id, exc_info=True)
        return await _finish(report_id, repository.FAILED, None, str(exc.__class__.__name__))
    return await _finish(report_id, repository.COMPLETED, size, None)


async def _finish(
    report_id: uuid.UUID, status: str, size: int | None, reason: str | None
) -> str | None:
    async with runtime.database().transaction() as session:
        report = await repository.load_report(session, report_id, lock=True)
        if report is None or report.status != repository.IN_PROGRESS:
            # Deleted while rendering: its file goes too.
            if report is None:
                service.remove_file(report_id)
            return None
        report.status = status
        report.completed = utcnow()
        report.file_size = size
        if reason is not None:
            report.errors = [
                {
                    "code": service.FAILED_CODE,
                    "description": f"The report could not be generated ({reason})",
                }
            ]
    return status


async def enqueue(report_id: uuid.UUID) -> None:
    """Defer the report's job again (the reconciler: a report in progress without a job; a
    new report's job is written with it, ``BillingRepository.add``). A failure to defer is
    left to the next reconciliation."""
    lock = lock_of(report_id)
    try:
        await render.configure(lock=lock, queueing_lock=lock).defer_async(report_id=str(report_id))
    except AlreadyEnqueued:
        pass
    except Exception:
        log.warning("could not defer billing report %s; the reconciler will", report_id)


async def reconcile_now(grace_seconds: float = 30.0, limit: int = 100) -> list[uuid.UUID]:
    async with runtime.database().transaction() as session:
        stuck = await repository.stuck_reports(session, grace_seconds, limit)
    for report_id in stuck:
        await enqueue(report_id)
    return stuck


@app.periodic(cron="*/2 * * * *")
@app.task(name="billing.reconcile", queue="housekeeping", queueing_lock="billing.reconcile")
async def reconcile(timestamp: int) -> None:
    """Every two minutes: re-defer reports left in progress without a job."""
    deferred = await reconcile_now()
    if deferred:
        log.info("billing reconciler deferred %d report(s)", len(deferred))


@app.periodic(cron="17 3 1 * *")
@app.task(
    name="billing.ledger_partitions", queue="housekeeping", queueing_lock="billing.partitions"
)
async def ledger_partitions(timestamp: int) -> None:
    """Monthly: the ledger's partitions for this year and the next two exist."""
    year = datetime.now(UTC).year
    async with runtime.database().transaction() as session:
        await repository.add_ledger_years(session, year, year + 2)
