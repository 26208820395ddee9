"""Benchmark: billing reports over a ledger of 1,000,000 subscribers.

Starts its own `partnerhub serve --no-worker` on a fresh embedded database, seeds by SQL (not
measured) one partner and one sub-partner with 2,000 customers, 1,000,000 subscribers holding
a package since before last month, 5 % of them changing package during the month (their old
interval ends, a new one starts), 300,000 intervals that ended in earlier years (which a
month's report must not read) and the customers' own packages; then prints:
  * POST /v1/wholesale/billing/reports p50 and p99 (200 requests, one client, distinct dates),
    each followed by a POST to the reference app (bench/anchor.py: a bearer SELECT and one
    INSERT ... SELECT on the same database; its customer is unknown here, so it answers 404
    after both statements) — the floor of this stack at the same moment;
  * a USER report of last month rendered by the job's own code (`billing.tasks.render_now`) in
    a separate process: time, CSV rows and size, the process's peak RSS;
  * a PARTNER report the same way.
Targets (issue 11): USER < 30 s and < 300 MB, PARTNER < 5 s, POST p99 < 50 ms. Each figure is
printed with the load average (/proc/loadavg) at its end: the machine may be shared.

    .venv/bin/python bench/billing.py [--subscribers 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from partnerhub import ids

sys.path.insert(0, str(Path(__file__).parent))
from customers import environment, free_port, start, stop
from subscribers import start_anchor

SCOPES = "spark-admin:wholesale_billing_reports_write"
CUSTOMERS = 2000

SEED = """
INSERT INTO partners (id, name, parent_id, provisioning_state, subscription_id, settings,
                      created, updated)
VALUES (%(sub)s, 'Bench reseller', %(owner)s, 'active', 'bench-sub', '{}', now(), now());
INSERT INTO usage_customers (customer_id, partner_id, external_id, org_id, data_region,
                             subscription_id, name)
SELECT md5('c' || i)::uuid, CASE WHEN mod(i, 10) = 0 THEN %(sub)s::uuid ELSE %(owner)s END,
       'ext-' || i, md5('o' || i)::uuid, 'US', 'Sub-' || mod(i, 3), 'Customer ' || i
FROM generate_series(1, %(customers)s) AS i;
-- the customers' own packages
INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from)
SELECT c.partner_id, c.customer_id, NULL, p, NULL, %(before)s
FROM usage_customers AS c, unnest(ARRAY['webex_calling', 'webex_meetings']) AS p;
-- every subscriber: one package since before the month; one in 20 ends it during the month
INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from,
                          valid_to)
SELECT c.partner_id, c.customer_id, md5('s' || i)::uuid,
       (ARRAY['webex_calling', 'webex_meetings', 'webex_suite', 'cx_essentials'])[1 + mod(i, 4)],
       'user' || i || '@bench.example',
       %(before)s - make_interval(days => mod(i, 300)),
       CASE WHEN mod(i, 20) = 0
            THEN %(first)s + make_interval(secs => mod(i::bigint * 7919, %(month_secs)s))
            ELSE 'infinity' END
FROM generate_series(1, %(subscribers)s) AS i
JOIN usage_customers AS c ON c.customer_id = md5('c' || (1 + mod(i, %(customers)s)))::uuid;
-- and starts another package at that moment
INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from)
SELECT partner_id, customer_id, subscriber_id, 'webex_suite', email, valid_to
FROM usage_ledger WHERE valid_to <> 'infinity' AND valid_to >= %(first)s;
-- older history: intervals that ended in earlier years
INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from,
                          valid_to)
SELECT c.partner_id, c.customer_id, md5('old' || i)::uuid, 'webex_calling',
       'old' || i || '@bench.example',
       '2021-01-01'::timestamptz + make_interval(days => mod(i, 400)),
       '2022-06-01'::timestamptz + make_interval(days => mod(i, 900))
FROM generate_series(1, 300000) AS i
JOIN usage_customers AS c ON c.customer_id = md5('c' || (1 + mod(i, %(customers)s)))::uuid;
"""


def render_child(data_dir: str, url: str, report_id: str) -> None:
    """In the child process: render one report as the job does; print time and peak RSS."""
    from partnerhub import runtime
    from partnerhub.billing import tasks
    from partnerhub.config import Settings

    async def run() -> str | None:
        runtime.init(Settings(data_dir=Path(data_dir), database_url=url), url)
        try:
            return await tasks.render_now(uuid.UUID(report_id))
        finally:
            await runtime.close()

    began = time.perf_counter()
    status = asyncio.run(run())
    elapsed = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "status": status,
                "seconds": elapsed,
                "peak_mb": usage.ru_maxrss / 1024,
                "cpu": usage.ru_utime + usage.ru_stime,
            }
        )
    )


def load() -> str:
    """The load averages (1, 5, 15 minutes)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.99) - 1]


def postgres_cpu(data_dir: Path) -> float:
    """CPU seconds used so far by the embedded PostgreSQL: the postmaster, its live children
    and the children it has reaped (a backend's time stays counted after its connection
    closed)."""
    import psutil

    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if (proc.info["name"] or "").startswith("postgres") and "-D" in cmdline:
            if str(data_dir) not in " ".join(cmdline):
                continue
            times = proc.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            for child in proc.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
                except psutil.NoSuchProcess:
                    continue
            return total
    return float("nan")


def render(data_dir: Path, url: str, report_id: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--render",
            report_id,
            "--data-dir",
            str(data_dir),
            "--url",
            url,
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--render", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render_child(args.data_dir, args.url, args.render)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="partnerhub-bench-billing-"))
    port = free_port()
    env = environment(data_dir, port)
    proc = start(env, port, worker=False)
    try:
        from partnerhub.config import Settings
        from partnerhub.db import database_url

        url = database_url(Settings(data_dir=data_dir))
        bearer = {"Authorization": f"Bearer {_token(env)}"}
        today = datetime.now(UTC).date()
        last = today.replace(day=1) - timedelta(days=1)
        first = last.replace(day=1)
        first_at = datetime(first.year, first.month, 1, tzinfo=UTC)
        month_secs = int((last - first).days + 1) * 86400
        began = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            owner = conn.execute("SELECT id FROM partners ORDER BY created LIMIT 1").fetchone()
            assert owner is not None
            values = {
                "sub": "00000000-0000-4000-8000-00000000b111",
                "owner": owner[0],
                "customers": CUSTOMERS,
                "subscribers": args.subscribers,
                "before": first_at - timedelta(days=3),
                "first": first_at,
                "month_secs": month_secs,
            }
            for statement in SEED.split(";\n"):
                if statement.strip():
                    conn.execute(statement, values)
            conn.execute("VACUUM ANALYZE usage_ledger")
            counts = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE valid_to = 'infinity') FROM usage_ledger"
            ).fetchone()
        print(
            f"seeded {args.subscribers:,} subscribers, {CUSTOMERS:,} customers: "
            f"{counts[0]:,} ledger rows ({counts[1]:,} running) in "
            f"{time.perf_counter() - began:.0f} s (not measured)"
        )

        base = f"http://127.0.0.1:{port}/v1/wholesale/billing/reports"
        anchor_port = free_port()
        anchor = start_anchor(url, anchor_port)
        anchor_url = f"http://127.0.0.1:{anchor_port}/v1/wholesale/subscribers"
        anchor_body = {"customerId": ids.encode("CUSTOMER", uuid.uuid4(), "us"), "email": "a@b.c"}
        latencies, floor = [], []
        with httpx.Client(timeout=30) as client:
            client.get(f"http://127.0.0.1:{port}/readyz")
            for n in range(-10, 200):  # ten of each first: connections and caches warm
                payload = {  # distinct dates: no 409
                    "billingStartDate": (last - timedelta(days=n + 10)).isoformat(),
                    "billingEndDate": last.isoformat(),
                }
                t0 = time.perf_counter()
                response = client.post(base, json=payload, headers=bearer)
                took = (time.perf_counter() - t0) * 1000
                assert response.status_code == 200, response.text
                t0 = time.perf_counter()
                answer = client.post(anchor_url, json=anchor_body, headers=bearer)
                anchor_took = (time.perf_counter() - t0) * 1000
                assert answer.status_code == 404, answer.text
                if n >= 0:
                    latencies.append(took)
                    floor.append(anchor_took)
            anchor.terminate()
            anchor.wait(10)
            print(
                f"POST billing report: p50 {statistics.median(latencies):.1f} ms, "
                f"p99 {p99(latencies):.1f} ms (200 requests); anchor alongside: p50 "
                f"{statistics.median(floor):.1f} ms, p99 {p99(floor):.1f} ms; load {load()}"
            )
            # The machine's own pace at the same moment: a GET of the same router (one page of
            # the 200 reports) and the liveness probe (no database).
            for label, target in (
                ("GET billing reports (max=10)", base + "?max=10"),
                ("GET /healthz", f"http://127.0.0.1:{port}/healthz"),
            ):
                times = []
                for _ in range(200):
                    t0 = time.perf_counter()
                    client.get(target, headers=bearer)
                    times.append((time.perf_counter() - t0) * 1000)
                times.sort()
                print(
                    f"{label}: p50 {statistics.median(times):.1f} ms, "
                    f"p99 {p99(times):.1f} ms (reference)"
                )
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DELETE FROM billing_reports")
                conn.execute("DELETE FROM procrastinate_jobs")
            for kind in ("USER", "PARTNER"):
                created = client.post(
                    base,
                    json={
                        "billingStartDate": first.isoformat(),
                        "billingEndDate": last.isoformat(),
                        "type": kind,
                    },
                    headers=bearer,
                )
                assert created.status_code == 200, created.text
                report_id = created.json()["id"]
                raw = str(ids.decode("BILLING_REPORT", report_id))
                with psycopg.connect(url, autocommit=True) as conn:  # the bench renders it
                    conn.execute("DELETE FROM procrastinate_jobs")
                pg_before = postgres_cpu(data_dir)
                result = render(data_dir, url, raw, env)
                pg_cpu = postgres_cpu(data_dir) - pg_before
                path = data_dir / "billing" / f"{raw}.csv"
                with path.open("rb") as fh:
                    rows = sum(1 for _ in fh) - 1
                print(
                    f"{kind} report {first}..{last}: {result['status']} in "
                    f"{result['seconds']:.1f} s, {rows:,} rows, "
                    f"{path.stat().st_size / 1e6:.0f} MB CSV, rendering process peak RSS "
                    f"{result['peak_mb']:.0f} MB; CPU: PostgreSQL {pg_cpu:.1f} s, rendering "
                    f"process {result['cpu']:.1f} s; load {load()}"
                )
    finally:
        stop(proc)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"data kept in {data_dir}")


def _token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "partnerhub", "token", "create", "--scope", SCOPES, "--name", "b"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    main()
