"""Jobs of wholesale customers: provisioning (per customer) and the periodic reconciler."""

from __future__ import annotations

import contextlib
import logging
import uuid

from procrastinate import JobContext
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from partnerhub import runtime
from partnerhub.config import get_settings
from partnerhub.customers import provisioning
from partnerhub.customers.repository import (
    PROVISION_QUEUE,
    PROVISION_TASK,
    job_lock,
    stuck_customers,
)
from partnerhub.customers.service import BUSY
from partnerhub.jobs import app
from partnerhub.kit import idempotency

log = logging.getLogger(__name__)

# Jobs whose worker died are finished as failed by the reconciler, which then defers anew.
RECOVERED_TASKS = (PROVISION_TASK, "notifications.deliver_email")


class ProvisioningRetry(BaseRetryStrategy):
    """Retry after any failure, ``provisioning_retry_seconds`` doubling each time, until
    ``provisioning_retries`` retries; read from the settings at each decision."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        settings = runtime.settings()
        if job.attempts >= settings.provisioning_retries:
            return None
        wait = settings.provisioning_retry_seconds * (2**job.attempts)
        return RetryDecision(retry_in={"seconds": min(wait, 600.0)})


@app.task(name=PROVISION_TASK, queue=PROVISION_QUEUE, pass_context=True, retry=ProvisioningRetry())
async def provision(context: JobContext, customer_id: str) -> None:
    """Move one customer towards the state its row asks for (idempotent)."""
    attempts = context.job.attempts
    final = attempts >= runtime.settings().provisioning_retries
    await provisioning.run(uuid.UUID(customer_id), attempt=attempts, final=final)


async def enqueue(customer_id: uuid.UUID) -> None:
    """Defer the customer's job; call only after the transaction that set its status has
    committed. A job already waiting is enough (queueing lock); a failure to defer is left to
    the reconciler."""
    lock = job_lock(customer_id)
    try:
        await provision.configure(lock=lock, queueing_lock=lock).defer_async(
            customer_id=str(customer_id)
        )
    except AlreadyEnqueued:
        pass
    except Exception:
        log.warning(
            "could not defer provisioning of %s; the reconciler will", customer_id, exc_info=True
        )


async def reconcile_now(grace_seconds: float = 5.0, limit: int = 1000) -> list[uuid.UUID]:
    """Finish jobs of dead workers, then defer a job for every busy customer that has none.

    Returns the customers deferred."""
    settings = runtime.settings()
    for task_name in RECOVERED_TASKS:
        stalled = await app.job_manager.get_stalled_jobs(
            task_name=task_name, seconds_since_heartbeat=settings.stalled_job_seconds
        )
        for job in stalled:
            assert job.id is not None
            log.warning("job %s (%s) lost its worker: re-running", job.id, task_name)
            with contextlib.suppress(Exception):
                await app.job_manager.finish_job_by_id_async(
                    job.id, status=Status.FAILED, delete_job=False
                )
    async with runtime.database().transaction() as session:
        stuck = await stuck_customers(session, sorted(BUSY), grace_seconds, limit)
    for customer_id in stuck:
        await enqueue(customer_id)
    return stuck


@app.periodic(cron=get_settings().reconcile_cron)
@app.task(name="customers.reconcile", queue="housekeeping", queueing_lock="customers.reconcile")
async def reconcile(timestamp: int) -> None:
    """Periodically: re-defer provisioning for rows stuck in a busy status (a crash between
    commit and defer, or a worker killed mid-job)."""
    deferred = await reconcile_now()
    if deferred:
        log.info("reconciler deferred %d customer job(s)", len(deferred))


@app.periodic(cron="23 * * * *")
@app.task(name="kit.purge_idempotency_keys", queue="housekeeping", queueing_lock="purge_idem")
async def purge_idempotency_keys(timestamp: int) -> None:
    """Hourly: delete ``Idempotency-Key`` records older than 24 hours."""
    async with runtime.database().transaction() as session:
        await idempotency.purge_expired(session)
