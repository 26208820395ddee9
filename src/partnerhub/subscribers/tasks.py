"""Background work of the subscribers domain: running bulk imports.

An import row is ``queued`` when the request commits; :func:`enqueue` defers
``subscribers.run_import`` after that commit, and the periodic ``subscribers.reconcile_imports``
re-defers any import left ``queued`` or ``running`` without a job (a crash between commit and
defer, or a dead worker). :func:`perform` is idempotent: it re-checks the file against the
database inside its own transaction (all or nothing), so a re-run creates nothing twice.
It is serialized with the customer's provisioning (procrastinate ``lock`` ``customer:<id>``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Status
from sqlalchemy import func, select, text, update

from partnerhub import runtime
from partnerhub.db import Database
from partnerhub.errors import ApiError
from partnerhub.jobs import app
from partnerhub.locations.service import system_principal
from partnerhub.models import Customer, SubscriberImport
from partnerhub.models.base import utcnow
from partnerhub.subscribers import imports
from partnerhub.subscribers.repository import SubscriberRepository

log = logging.getLogger(__name__)
TASK = "subscribers.run_import"
STALLED_SECONDS = 300


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


OnProgress = Callable[[int, int], Awaitable[None] | None]


async def _set(db: Database, import_id: uuid.UUID, **values: object) -> None:
    """Update the import row in its own short transaction (visible at once)."""
    async with db.transaction() as session:
        await session.execute(
            update(SubscriberImport).where(SubscriberImport.id == import_id).values(**values)
        )


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
    total = 0

    async def progress(done: int) -> None:
        await _set(db, import_id, processed=done)
        if on_progress is not None:
            result = on_progress(done, total)
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
            rows = imports.parse_csv(record.source)
            total = len(rows)
            report = await imports.check(repo, customer, rows, repo.principal)
            del rows
            if report.errors:
                failure = [
                    {"row": e.row, "column": e.column, "message": e.message, "errorCode": e.code}
                    for e in report.errors
                ]
                raise _Failed()
            await imports.write(repo, customer, report, progress)
            await session.execute(
                update(SubscriberImport)
                .where(SubscriberImport.id == import_id)
                .values(
                    status="succeeded",
                    total=total,
                    processed=total,
                    created_count=len(report.plans),
                    existing_count=len(report.existing),
                    result=imports.result_csv(customer, report),
                    errors=[],
                    finished=utcnow(),
                )
            )
    except _Failed:
        pass
    except ApiError as exc:
        failure = [{"row": 0, "column": "", "message": exc.description, "errorCode": exc.code}]
    if failure:
        await _set(db, import_id, status="failed", processed=0, errors=failure, finished=utcnow())
    return await _reload(db, import_id)


class _Failed(Exception):
    pass


_STUCK = text(
    """
    SELECT i.id, i.customer_id FROM subscriber_imports i
    WHERE i.status IN ('queued', 'running')
      AND i.created < now() - interval '30 seconds'
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


async def reconcile_now() -> list[uuid.UUID]:
    """Re-run imports whose worker died, and defer imports that have no job."""
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=TASK, seconds_since_heartbeat=STALLED_SECONDS
    )
    for job in stalled:
        assert job.id is not None
        with contextlib.suppress(Exception):
            await app.job_manager.finish_job_by_id_async(
                job.id, status=Status.FAILED, delete_job=False
            )
    async with runtime.database().transaction() as session:
        stuck = [(row[0], row[1]) for row in await session.execute(_STUCK)]
    for import_id, customer_id in stuck:
        await enqueue(import_id, customer_id)
    return [i for i, _ in stuck]


@app.periodic(cron="* * * * *")
@app.task(
    name="subscribers.reconcile_imports",
    queue="housekeeping",
    queueing_lock="subscribers.reconcile_imports",
)
async def reconcile_imports(timestamp: int) -> None:
    await reconcile_now()


__all__ = ["enqueue", "perform", "reconcile_now", "run_import"]
