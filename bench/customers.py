"""Benchmark: provisioning customers through the API with the null backend.

Starts its own `partnerhub serve --no-worker` and one `partnerhub worker` (the documented
scale-out shape, one process per core; `--one-process` runs `serve` with its in-process worker
instead) on a fresh embedded database, then prints:
  * POST /v1/wholesale/customers p50 and p99 latency at a steady request rate, and the
    throughput achieved;
  * the time from the last POST's answer until every customer is `provisioned`;
  * GET /v1/wholesale/customers p50 and p99 (first page, and filtered by status) once the
    database holds --total customers.
Targets (issue 3, this 2-core machine): POST p99 < 50 ms at 100 requests/s; all provisioned
within 10 s of the last POST; list p99 < 20 ms with 10,000 customers.

    .venv/bin/python bench/customers.py [--count 1000] [--rate 100] [--total 10000]
                                        [--one-process]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from partnerhub.customers.repository import _INDEX_SCANS, _PAGE

ADMIN_EMAIL = "bench@partnerhub.local"
SCOPES = "spark-admin:wholesale_customers_write,partnerhub:templates_write"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "PARTNERHUB_DATA_DIR": str(data_dir),
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_ADMIN_EMAIL": ADMIN_EMAIL,
        "PARTNERHUB_ADMIN_PASSWORD": "bench-only-password",
        "PARTNERHUB_LOG_LEVEL": "warning",
        "PARTNERHUB_BACKEND": "null",
        "PARTNERHUB_RATE_LIMIT_PER_TOKEN": "0",
        "PARTNERHUB_RATE_LIMIT_PER_ADDRESS": "0",
    }
    env.pop("PARTNERHUB_DATABASE_URL", None)
    return env


OUTPUT: Any = subprocess.DEVNULL  # --log FILE: the processes' output goes there


def start(env: dict[str, str], port: int, worker: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "partnerhub", "serve"]
    if not worker:
        command.append("--no-worker")
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=OUTPUT,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("serve did not become ready in 120 s")


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "worker"],
        env=env,
        stdout=OUTPUT,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "partnerhub", "token", "create", "--scope", SCOPES, "--name", "b"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def body(provisioning_id: str, n: int) -> dict[str, Any]:
    return {
        "provisioningId": provisioning_id,
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": f"bench-{n}",
        "address": {
            "addressLine1": "771 Alder Drive",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "customerInfo": {"name": f"Customer {n}", "primaryEmail": f"admin{n}@bench.example"},
        "provisioningParameters": {
            "calling": {
                "location": {
                    "name": "HQ",
                    "address": {
                        "addressLine1": "771 Alder Drive",
                        "city": "Milpitas",
                        "stateOrProvince": "CA",
                        "zipOrPostalCode": "95035",
                        "country": "US",
                    },
                    "timezone": "America/Los_Angeles",
                    "language": "en_US",
                }
            }
        },
    }


RETRIES = 0
REFUSED: dict[int, int] = {}  # status → count of POSTs not answered 202 (overload: 503)


async def create(client: httpx.AsyncClient, pid: str, n: int) -> httpx.Response:
    """POST one customer; a dropped connection is retried with the same Idempotency-Key (the
    server answers the first response again, never a second customer)."""
    global RETRIES
    headers = {"Idempotency-Key": f"bench-{n}"}
    for attempt in range(3):
        try:
            return await client.post("/v1/wholesale/customers", json=body(pid, n), headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
            if attempt == 2:
                raise
            RETRIES += 1
    raise AssertionError("unreachable")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def post_at_rate(
    client: httpx.AsyncClient, pid: str, first: int, count: int, rate: float
) -> tuple[list[float], float, float]:
    latencies: list[float] = []

    async def one(n: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        began = time.perf_counter()
        response = await create(client, pid, n)
        latencies.append(time.perf_counter() - began)
        if response.status_code != 202:
            REFUSED[response.status_code] = REFUSED.get(response.status_code, 0) + 1

    began = time.perf_counter()
    interval = 1.0 / rate if rate > 0 else 0.0
    await asyncio.gather(*(one(first + i, began + i * interval) for i in range(count)))
    return latencies, began, time.perf_counter()


async def fill(client: httpx.AsyncClient, pid: str, first: int, count: int) -> None:
    """Create customers as fast as 16 concurrent clients can."""
    queue = iter(range(first, first + count))

    async def worker() -> None:
        for n in queue:
            response = await create(client, pid, n)
            if response.status_code != 202:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text}")

    await asyncio.gather(*(worker() for _ in range(16)))


async def busy(client: httpx.AsyncClient) -> int:
    response = await client.get(
        "/v1/wholesale/customers", params={"status": "provisioning", "max": "100"}
    )
    return len(response.json()["items"])


async def wait_provisioned(client: httpx.AsyncClient, within: float) -> float | None:
    """Seconds until no customer is provisioning; ``None`` if some still are after ``within``
    (a loaded machine: the worker runs at a lower priority, see docs/performance.md)."""
    began = time.perf_counter()
    while time.perf_counter() - began < within:
        if await busy(client) == 0:
            return time.perf_counter() - began
        await asyncio.sleep(0.05)
    return None


async def timed_gets(client: httpx.AsyncClient, params: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        response = await client.get("/v1/wholesale/customers", params=params)
        out.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text
    return out


async def run(args: argparse.Namespace, port: int, secret: str) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    # keep-alive below uvicorn's 5 s, so no request goes out on a connection it is closing
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120, limits=limits
    ) as client:
        template = await client.post(
            "/v1/partner/templates",
            json={
                "name": "Bench",
                "serviceProviderAdminEmail": ADMIN_EMAIL,
                "country": "US",
                "defaultEmailLanguage": "en_US",
                "wholesaleSubscriptionId": "Sub-bench",
                "email": {"brandName": "Bench Cloud"},
            },
        )
        assert template.status_code == 201, template.text
        pid = template.json()["provisioningId"]
        # warm-up (connections, caches), not measured
        await post_at_rate(client, pid, 10_000_000, 20, 50)
        await wait_provisioned(client, 60)

        cpu_before = [process_cpu(p) for p in args.pids]
        latencies, began, ended = await post_at_rate(client, pid, 0, args.count, args.rate)
        cpu_posting = [process_cpu(p) - b for p, b in zip(args.pids, cpu_before, strict=True)]
        settle = await wait_provisioned(client, args.settle)
        cpu_all = [process_cpu(p) - b for p, b in zip(args.pids, cpu_before, strict=True)]
        print(f"POST /v1/wholesale/customers: {args.count} requests at {args.rate:.0f}/s")
        print(
            f"  p50 {statistics.median(latencies) * 1000:7.1f} ms   "
            f"p99 {pct(latencies, 0.99) * 1000:7.1f} ms   target p99 < 50 ms"
        )
        print(f"  throughput {args.count / (ended - began):7.1f} requests/s")
        if settle is None:
            print(f"  NOT all provisioned {args.settle:.0f} s after the last POST   target < 10 s")
        else:
            print(f"  all provisioned {settle:7.2f} s after the last POST   target < 10 s")
        print(
            f"  CPU a customer: serving process {cpu_posting[0] * 1000 / args.count:5.2f} ms "
            f"while posting; "
            + (
                f"worker {cpu_all[1] * 1000 / args.count:5.2f} ms until all provisioned"
                if len(cpu_all) > 1
                else "(in-process worker)"
            )
            + f"; load average {os.getloadavg()[0]:.1f}"
        )
        if REFUSED:
            print(f"  NOT ACCEPTED: {REFUSED} (the server was overloaded)")
        if RETRIES:
            print(f"  ({RETRIES} POSTs retried after a dropped connection, same Idempotency-Key)")

        missing = args.total - args.count - 20
        if missing > 0:
            fill_began = time.perf_counter()
            await fill(client, pid, args.count, missing)
            fill_seconds = time.perf_counter() - fill_began
            print(
                f"filled to {args.total} customers: {missing} POSTs in {fill_seconds:.1f} s "
                f"({missing / fill_seconds:.0f}/s with 16 clients)"
            )
            if await busy(client):
                # The worker still provisions the fill: the list measured meanwhile as well
                # (the figures below are taken once it has settled).
                during = await timed_gets(client, {"max": "100"}, args.gets)
                left = await busy(client)
                print(
                    f"  first page while the worker provisions the fill (customers still "
                    f"provisioning after: {left}{'+' if left == 100 else ''}): "
                    f"p50 {statistics.median(during) * 1000:6.1f} ms   "
                    f"p99 {pct(during, 0.99) * 1000:6.1f} ms"
                )
            settled = await wait_provisioned(client, args.settle)
            if settled is None:
                print(f"  (still provisioning after {args.settle:.0f} s: lists measured anyway)")
            else:
                print(f"  fill provisioned {settled:.1f} s later; lists measured after that")
        first_page = await timed_gets(client, {"max": "100"}, args.gets)
        filtered = await timed_gets(client, {"status": "provisioned", "max": "100"}, args.gets)
        deep = await timed_gets(client, {"offset": str(args.total - 150), "max": "100"}, args.gets)
        print(f"GET /v1/wholesale/customers with {args.total} customers, {args.gets} requests each")
        for label, values in (
            ("first page", first_page),
            ("status=provisioned", filtered),
            ("deep offset", deep),
        ):
            print(
                f"  {label:20s} p50 {statistics.median(values) * 1000:6.1f} ms   "
                f"p99 {pct(values, 0.99) * 1000:6.1f} ms   target p99 < 20 ms"
            )


def explain_deep_page(data_dir: Path, offset: int) -> None:
    """EXPLAIN ANALYZE of the list's deep page (customers/repository.py, ``_PAGE``) with the
    planner settings the list sends and without them: the plan's top and the time."""
    url = f"postgresql://postgres@/partnerhub?host={data_dir / 'pgdata'}"
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + _PAGE.format(filters="")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT partner_id FROM customers LIMIT 1").fetchone()
        assert row is not None
        params = {"pid": row[0], "offset": offset, "limit": 101}
        for label, settings in (("with the settings", True), ("without them", False)):
            with conn.transaction():
                if settings:
                    conn.execute(_INDEX_SCANS)
                lines = [r[0] for r in conn.execute(sql, params)]
            scans = sorted({ln.split("  (")[0].strip(" ->") for ln in lines if "Scan" in ln})
            took = [ln.strip() for ln in lines if "Execution Time" in ln]
            print(f"  deep page, EXPLAIN ANALYZE {label}: {'; '.join(scans)}; {took[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="customers POSTed at --rate")
    parser.add_argument("--rate", type=float, default=100.0, help="POSTs per second")
    parser.add_argument("--total", type=int, default=10_000, help="customers for the list test")
    parser.add_argument("--gets", type=int, default=300, help="GETs per list measurement")
    parser.add_argument(
        "--settle", type=float, default=300.0, help="seconds to wait for provisioning to settle"
    )
    parser.add_argument(
        "--one-process", action="store_true", help="serve with its in-process worker"
    )
    parser.add_argument("--log", type=Path, help="file for the server's and worker's output")
    args = parser.parse_args()
    global OUTPUT
    if args.log:
        OUTPUT = args.log.open("ab")

    data_dir = Path(tempfile.mkdtemp(prefix="partnerhub-bench-"))
    port = free_port()
    env = environment(data_dir, port)
    proc = start(env, port, worker=args.one_process)
    worker = None if args.one_process else start_worker(env)
    args.pids = [proc.pid] + ([worker.pid] if worker is not None else [])
    try:
        asyncio.run(run(args, port, token(env)))
        explain_deep_page(data_dir, args.total - 150)
    finally:
        if worker is not None:
            stop(worker)
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
