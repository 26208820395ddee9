"""The fault run of ``scripts/faults.py`` in a bounded form (docs/reliability.md, "Faults").

Real ``partnerhub serve --no-worker`` and ``partnerhub worker`` processes on a PostgreSQL
cluster of this module's own (it is stopped and started again, so it is never the session's
database nor an external server): 50 customers and 250 subscribers (API and bulk imports)
with one SIGKILL of the serving process and one of the worker; PostgreSQL restarted under
load; the fault backend failing 30 % of downstream calls (two retries, so that some calls do
run out of them and their errors must be recorded).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reliability.faults import harness


@pytest.fixture(scope="module")
async def own() -> AsyncIterator[tuple[harness.Cluster, harness.Stack]]:
    work = Path(tempfile.mkdtemp(prefix="ph-faults-"))  # short: the socket path has a limit
    cluster = harness.Cluster(work / "pg")
    stack = harness.Stack(
        cluster.create_database("partnerhub"),
        work / "run",
        env_extra={"PARTNERHUB_FAULT_LATENCY_MS": "50", "PARTNERHUB_WORKER_CONCURRENCY": "4"},
    )
    try:
        await harness.start_stack(stack)
        yield cluster, stack
    finally:
        await harness.close_probes()
        stack.stop(graceful=False)  # the checks are done; SIGTERM is covered by scripts/faults.py
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def passed(report: harness.Report) -> bool:
    print(report.name, json.dumps(report.figures, indent=1, default=str))  # shown on failure
    return not report.problems


async def test_killed_processes_lose_and_duplicate_nothing(
    own: tuple[harness.Cluster, harness.Stack],
) -> None:
    _, stack = own
    plan = harness.KillPlan(
        customers=50,
        subscribers_per_customer=5,
        numbers_per_customer=3,
        clients=8,
        serve_kills_customers=(0.4,),
        worker_kills_customers=(0.3,),
        serve_kills_subscribers=(),
        worker_kills_imports=(),
        settle_within=120,
    )
    report = await harness.kills(stack, plan)
    assert passed(report), report.problems
    figures = report.figures
    assert (figures["serve_kills"], figures["worker_kills_mid_job"]) == (1, 1)
    assert figures["customers_in_database"] == 50
    assert figures["subscribers_in_database"] == 250
    assert figures["http"]["transport_errors"] > 0  # clients did meet the dead server


async def test_postgresql_restart_under_load_answers_503_then_recovers(
    own: tuple[harness.Cluster, harness.Stack],
) -> None:
    cluster, stack = own
    plan = harness.RestartPlan(clients=6, before=1.5, outage=3.5, after=5, recovery=4)
    report = await harness.pg_restart(stack, cluster, plan)
    assert passed(report), report.problems
    assert report.figures["answers_while_away"].get(503, 0) > 0


async def test_fault_backend_at_30_percent_settles_everything(
    own: tuple[harness.Cluster, harness.Stack],
) -> None:
    _, stack = own
    plan = harness.FaultPlan(customers=24, retries=2, changes=False, clients=6, settle_within=120)
    report = await harness.fault_backend(stack, plan)
    assert passed(report), report.problems
    assert report.figures["customers_with_2560_retry_warnings"] > 0
