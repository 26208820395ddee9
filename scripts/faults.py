"""Fault run (issue 6, item 4; docs/reliability.md, "Faults").

Starts ``partnerhub serve --no-worker`` and ``partnerhub worker`` as real subprocesses on a
fresh database and injects faults while clients provision:

1. **kills**: ``--customers`` customers through ``POST /v1/wholesale/customers`` (each with
   ``--numbers`` HQ numbers), then ``--subscribers-per-customer`` subscribers per customer
   (half of the customers through ``POST /v1/wholesale/subscribers``, the other half by one
   bulk import each; half of the subscribers take a number and an extension). The serving
   process is SIGKILLed at 30 % and 65 % of the customer POSTs and at 40 % of the subscriber
   requests, the worker in the middle of provisioning jobs at 25 % and 60 % of the customers
   and in the middle of an import; both are restarted at once. Clients retry every request
   until it is answered, with the same ``Idempotency-Key`` for a POST. Then every resource is
   checked exactly once in the database: customers, organizations, first administrators,
   invitation emails, numbers, subscribers, imports, status histories, idempotency keys.
2. **PostgreSQL restart**: ``pg_ctl stop -m fast`` for 5 s under a mixed load (customer and
   subscriber POSTs, list and get, a portal page), then ``pg_ctl start``: every answer while
   it is away is a 503 in the contract's shape (HTML for the portal), within 5 s; requests
   succeed after; the processes survive; nothing is half-written.
3. **fault backend**: the worker restarted with ``PARTNERHUB_FAULT_FAILURE_RATE=0.3``;
   ``--fault-customers`` customers provisioned, a third then changed (PUT) and a third deleted:
   each ends provisioned, or with its errors recorded, or deleted; none stays busy.

The database is the embedded PostgreSQL (this run's own data directory) unless
``--database-url`` names a server: phases 1 and 3 then run in a scratch database created on
it (dropped at the end), and phase 2 on a PostgreSQL cluster of this run's own (never the
shared server, which is not restarted).

It prints the figures and every failed check; exit status 1 if any check failed.

    .venv/bin/python scripts/faults.py [--customers 1000] [--subscribers-per-customer 10]
        [--fault-customers 300] [--clients 16]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.faults import harness  # noqa: E402


async def run(args: argparse.Namespace, work: Path) -> list[harness.Report]:
    reports: list[harness.Report] = []
    cluster: harness.Cluster | None = None
    stacks: list[harness.Stack] = []
    env = {"PARTNERHUB_FAULT_LATENCY_MS": "20", "PARTNERHUB_WORKER_CONCURRENCY": "4"}
    with contextlib.ExitStack() as cleanup:
        try:
            if args.database_url:
                url = cleanup.enter_context(harness.scratch_database(args.database_url))
            else:
                cluster = harness.Cluster(work / "pg")
                url = cluster.create_database("partnerhub")
            harness.log_line(f"database: {url}")
            main = harness.Stack(url, work / "main", env_extra=dict(env))
            stacks.append(main)
            await harness.start_stack(main)
            plan = harness.KillPlan(
                customers=args.customers,
                subscribers_per_customer=args.subscribers_per_customer,
                numbers_per_customer=args.numbers,
                clients=args.clients,
            )
            reports.append(await harness.kills(main, plan))
            harness.log_line("phase 1 done")

            if cluster is None:  # external server: restart a cluster of our own instead
                cluster = harness.Cluster(work / "pg")
                own = harness.Stack(
                    cluster.create_database("partnerhub"), work / "restart", env_extra=dict(env)
                )
                stacks.append(own)
                await harness.start_stack(own)
            else:
                own = main
            restart = harness.RestartPlan(clients=args.clients // 2)
            reports.append(await harness.pg_restart(own, cluster, restart))
            harness.log_line("phase 2 done")

            fault = harness.FaultPlan(customers=args.fault_customers, clients=args.clients // 2)
            reports.append(await harness.fault_backend(main, fault))
            harness.log_line("phase 3 done")
            for stack in stacks:  # a clean stop: running jobs finish
                codes = stack.stop()
                reports[-1].figures[f"exit_on_sigterm_{stack.work.name}"] = codes
                # uvicorn re-raises the signal once it has shut down gracefully
                clean = codes.get("worker") == 0 and codes.get("serve") in (0, -signal.SIGTERM)
                reports[-1].check(clean, f"a process did not stop cleanly on SIGTERM: {codes}")
        finally:
            await harness.close_probes()
            for stack in stacks:
                stack.stop()
            if cluster is not None:
                cluster.destroy()
    return reports


def show(reports: list[harness.Report], elapsed: float) -> int:
    failed = 0
    for report in reports:
        print(f"\n== {report.name}")
        for name, value in report.figures.items():
            if name == "kills":
                for kill in value:
                    print(f"   kill: {kill}")
                continue
            print(f"   {name}: {value}")
        for problem in report.problems:
            print(f"   FAILED: {problem}")
        failed += len(report.problems)
    print(f"\n{len(reports)} phases, {failed} failed checks, {elapsed:.0f} s")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--subscribers-per-customer", type=int, default=10)
    parser.add_argument("--numbers", type=int, default=5, help="HQ numbers per customer")
    parser.add_argument("--fault-customers", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--database-url", help="an external server (a scratch database on it)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="partnerhub-faults-"))
    began = time.monotonic()
    reports = asyncio.run(run(args, work))
    elapsed = time.monotonic() - began
    if args.keep or any(r.problems for r in reports):
        print(f"logs of the processes kept in {work}/*/*.log")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        out: dict[str, Any] = {
            r.name: {"figures": r.figures, "problems": r.problems} for r in reports
        }
        out["elapsed_s"] = round(elapsed)
        args.json.write_text(json.dumps(out, indent=1, default=str))
    raise SystemExit(show(reports, elapsed))


if __name__ == "__main__":
    main()
