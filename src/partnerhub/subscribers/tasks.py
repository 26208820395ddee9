"""Background work of the subscribers domain: running bulk imports.

An import row is ``queued`` when the request commits; :func:`enqueue` defers
``subscribers.run_import`` after that commit, and the periodic ``subscribers.reconcile_imports``
re-defers any import left ``queued`` or ``running`` without a job (a crash between commit and
defer, or a dead worker). :func:`perform` is idempotent: it re-checks the file against the
database inside its own transaction (all or nothing), so a re-run creates nothing twice.
It is serialized with the customer's provisioning (procrastinate ``lock`` ``customer:<id>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Status
from sqlalchemy import func, select, text, update

from partnerhub import runtime
from partnerhub.config import get_settings
from partnerhub.db import Database
from partnerhub.errors import ApiError
from partnerhub.jobs import app
from partnerhub.locations.service import system_principal
from partnerhub.models import Customer, SubscriberImport
from partnerhub.models.base import utcnow
from partnerhub.ops import metrics
from partnerhub.subscribers import imports
from partnerhub.subscribers.repository import SubscriberRepository

log = logging.getLogger(__name__)
TASK = "subscribers.run_import"
PROGRESS_SECONDS = 0.5


def lock_of(customer_id: uuid.UUID) -> str:
    """The same lock as the customer's provisioning job: one at a time per customer."""
    return f"customer:{customer_id}"


@app.task(name=TASK, queue="imports")
async def run_import(import_id: str) -> None:
    await perform(runtime.database(), uuid.UUID(import_id))


async def enqueue(import_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Defer the import's job; call after the transaction that created it has committed."""
    try:
        await run_import.configure(
            lock=lock_of(customer_id), queueing_lock=f"import:{import_id}"
        ).defer_async(import_id=str(import_id))
    except AlreadyEnqueued:
        pass
    except Exception:
        log.warning("could not defer import %s; the reconciler will", import_id)


OnProgress = Callable[[str, int, int | None], Awaitable[None] | None]
"""``(stage, rows done, total or None)``: stage ``read`` (first pass over the file, no
database) then ``check`` (rules checked and rows written); see :func:`imports.run`."""


async def _set(db: Database, import_id: uuid.UUID, **values: object) -> None:
    """Update the import row in its own short transaction (visible at once)."""
    async with db.transaction() as session:
        await session.execute(
            update(SubscriberImport).where(SubscriberImport.id == import_id).values(**values)
        )


class _Processed:
    """Publishes ``processed`` while an import runs: at most every ``PROGRESS_SECONDS``, in
    the background (the import goes on meanwhile) and without waiting for the disk
    (``synchronous_commit`` off: a lost progress figure is harmless). :meth:`close` waits for
    the last write, so that none lands after the import's own final update."""

    def __init__(self, db: Database, import_id: uuid.UUID) -> None:
        self.db = db
        self.import_id = import_id
        self.task: asyncio.Task[None] | None = None
        self.last = 0.0

    def report(self, done: int) -> None:
        now = time.monotonic()
        if (self.task is None or self.task.done()) and now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.task = asyncio.create_task(self._write(done))

    async def _write(self, done: int) -> None:
        try:
            async with self.db.transaction() as session:
                await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                await session.execute(
                    update(SubscriberImport)
                    .where(SubscriberImport.id == self.import_id)
                    .values(processed=done)
                )
        except Exception:  # the figure only; the import itself goes on
            log.warning("could not record the progress of import %s", self.import_id)

    async def close(self) -> None:
        if self.task is not None:
            await self.task


async def _reload(db: Database, import_id: uuid.UUID) -> SubscriberImport | None:
    async with db.transaction() as session:
        return await session.get(SubscriberImport, import_id)


async def perform(
    db: Database, import_id: uuid.UUID, on_progress: OnProgress | None = None
) -> SubscriberImport | None:
    """Run one import to its end (``succeeded`` or ``failed``); returns the final row.

    One run at a time per import: the run holds a transaction-level advisory lock on the
    import for its whole (single) transaction; a second run (a re-deferred job, or the CLI
    and a worker) finds it taken and returns at once.
    """

    processed = _Processed(db, import_id)

    async def stage(name: str, done: int, total: int | None) -> None:
        if name == "read" and total is not None:
            await _set(db, import_id, total=total)
        elif name == "check":
            processed.report(done)
        if on_progress is not None:
            result = on_progress(name, done, total)
            if result is not None:
                await result

    failure: list[dict[str, object]] = []
    try:
        async with db.transaction() as session:
            locked = await session.scalar(
                select(
                    func.pg_try_advisory_xact_lock(func.hashtextextended(f"import:{import_id}", 0))
                )
            )
            record = await session.get(SubscriberImport, import_id) if locked else None
            if record is None or record.status not in ("queued", "running"):
                return record or await _reload(db, import_id)
            await _set(db, import_id, status="running", processed=0)
            repo = SubscriberRepository(session, system_principal(record.partner_id))
            customer = await session.get(Customer, record.customer_id)
            if customer is None:
                raise ApiError("the customer no longer exists", status=404, code=1100)
            try:
                # The facts are read on a second connection while the first one streams the
                # new rows into COPY (see imports.run).
                async with db.transaction() as side:
                    reader = SubscriberRepository(side, repo.principal)
                    report, result = await imports.run(
                        repo, reader, customer, record.source, repo.principal, stage
                    )
            finally:
                await processed.close()
            if report.errors:
                failure = [
                    {"row": e.row, "column": e.column, "message": e.message, "errorCode": e.code}
                    for e in report.errors
                ]
                raise _Failed()
            await session.execute(
                update(SubscriberImport)
                .where(SubscriberImport.id == import_id)
                .values(
                    status="succeeded",
                    total=report.total,
                    processed=report.total,
                    created_count=report.new_count,
                    existing_count=len(report.existing),
                    result=result,
                    errors=[],
                    finished=utcnow(),
                )
            )
        metrics.imported("succeeded", created=report.new_count, existing=len(report.existing))
    except _Failed:
        pass
    except ApiError as exc:
        failure = [{"row": 0, "column": "", "message": exc.description, "errorCode": exc.code}]
    if failure:
        await _set(db, import_id, status="failed", processed=0, errors=failure, finished=utcnow())
        metrics.imported("failed", rejected=len({e["row"] for e in failure if e["row"]}))
    return await _reload(db, import_id)


class _Failed(Exception):
    pass


_STUCK = text(
    """
    SELECT i.id, i.customer_id FROM subscriber_imports i
    WHERE i.status IN ('queued', 'running')
      AND i.created < now() - make_interval(secs => :grace)
      AND NOT EXISTS (
          SELECT 1 FROM pg_locks l
          WHERE l.locktype = 'advisory'
            AND ((l.classid::bigint << 32) | l.objid::bigint)
                = hashtextextended('import:' || i.id::text, 0))
      AND NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs j
          WHERE j.queueing_lock = 'import:' || i.id::text AND j.status IN ('todo', 'doing'))
    ORDER BY i.created
    LIMIT 100
    """
)


async def reconcile_now(grace_seconds: float = 5.0) -> list[uuid.UUID]:
    """Re-run imports whose worker died (no heartbeat for ``PARTNERHUB_STALLED_JOB_SECONDS``),
    and defer imports that have no job (``grace_seconds`` after their creation)."""
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=TASK, seconds_since_heartbeat=runtime.settings().stalled_job_seconds
    )
    for job in stalled:
        assert job.id is not None
        with contextlib.suppress(Exception):
            await app.job_manager.finish_job_by_id_async(
                job.id, status=Status.FAILED, delete_job=False
            )
    async with runtime.database().transaction() as session:
        stuck = [
            (row[0], row[1]) for row in await session.execute(_STUCK, {"grace": grace_seconds})
        ]
    for import_id, customer_id in stuck:
        await enqueue(import_id, customer_id)
    return [i for i, _ in stuck]


@app.periodic(cron=get_settings().reconcile_cron)
@app.task(
    name="subscribers.reconcile_imports",
    queue="housekeeping",
    queueing_lock="subscribers.reconcile_imports",
)
async def reconcile_imports(timestamp: int) -> None:
    await reconcile_now()


__all__ = ["enqueue", "perform", "reconcile_now", "run_import"]
