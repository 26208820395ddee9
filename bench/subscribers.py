"""Benchmark: wholesale subscribers on the embedded database.

Starts its own `partnerhub serve` (fresh data directory, embedded PostgreSQL) and prints:

1. API provisioning: ``--subscribers`` (10,000) subscribers, one subscriber per
   ``POST /v1/wholesale/subscribers``, ``--clients`` (16) concurrent clients each sending one
   request at a time (a lean keep-alive client, bench/_http.py), offered at ``--rate`` (500)
   requests/s, or as fast as answers come with ``--rate 0``; half calling (number +
   extension), half meetings-only. Throughput (requests/s sustained over the run), POST
   p50/p99 latency (from when each request was due, so falling behind shows), and the serving
   process's CPU per request. Targets: >= 500 requests/s, p99 < 50 ms.
2. CSV import: ``--import-rows`` (100,000) subscribers with numbers through
   ``partnerhub import subscribers FILE --customer ID`` (a subprocess on the same database):
   wall time and the peak resident memory of that process. Targets: < 60 s, < 500 MB.
3. Listing: ``--total`` (1,000,000) subscribers in the database (topped up with SQL), then
   ``--gets`` (500) ``GET /v1/wholesale/subscribers?customerId=`` of one customer:
   p50/p99 latency. Target: p99 < 20 ms.

Seeding (partner, token, customers, number inventory, the 1M rows) goes straight to the
database and is not measured. Not part of CI; figures depend on the machine.

    .venv/bin/python bench/subscribers.py [--subscribers 10000] [--import-rows 100000]
        [--total 1000000] [--clients 16] [--rate 500] [--gets 500]
        [--only api|import|listing ...]
    .venv/bin/python bench/subscribers.py --compare [--runs 3] [--requests 3000]

``--compare`` runs only the side-by-side comparison with the reference app (bench/anchor.py):
both servers on the same embedded database, the same lean client and bodies, one after the
other, ``--runs`` rounds of unpaced (16 clients) and paced (``--rate``) POSTs; it prints each
run, the median and spread of req/s, p50/p99 and CPU a request, the ratio PartnerHub/anchor,
and the load average. Targets: ratio >= 0.6 unpaced, p99 < 50 ms paced at 500/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _http import Connection

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from partnerhub.identity import service as identity
from partnerhub.ids import new_provisioning_id
from partnerhub.locations.service import ensure_hq_location
from partnerhub.models import Customer, Partner, PartnerAdmin, PhoneNumber, Template

ADDRESS = {
    "addressLine1": "1 Market St",
    "city": "San Francisco",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "94105",
    "country": "US",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTNERHUB_DATA_DIR": str(data_dir),
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_ADMIN_PASSWORD": "bench-only-password",
        "PARTNERHUB_LOG_LEVEL": "warning",
        "PARTNERHUB_DB_POOL_SIZE": "20",
        # A benchmark from one address with one token: the limits would refuse it.
        "PARTNERHUB_RATE_LIMIT_PER_TOKEN": "0",
        "PARTNERHUB_RATE_LIMIT_PER_ADDRESS": "0",
    }
    env.pop("PARTNERHUB_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    began = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() - began > 120:
            proc.kill()
            raise SystemExit("serve did not become ready in 120 s")
        time.sleep(0.1)


def numbers(count: int, start_exchange: int = 200) -> list[str]:
    """``count`` valid San Francisco numbers, exchange by exchange."""
    out: list[str] = []
    exchange = start_exchange
    while len(out) < count:
        block = [f"+1415{exchange}{i:04d}" for i in range(10_000)]
        if phones.parse_e164(block[0]) and phones.parse_e164(block[-1]):
            out += block[: count - len(out)]
        exchange += 1
    return out


async def seed(url: str, customers: int, inventory: list[list[str]]) -> tuple[str, list[Customer]]:
    """A partner, an all-scopes token, ``customers`` provisioned customers with HQ numbers."""
    db = Database(url, 2)
    try:
        async with db.transaction() as session:
            partner = Partner(id=uuid.uuid4(), name="Bench", settings={})
            admin = PartnerAdmin(
                id=uuid.uuid4(),
                partner_id=partner.id,
                email="bench@bench.example",
                role="full_admin",
            )
            session.add(partner)
            await session.flush()
            session.add(admin)
            await session.flush()
            template = Template(
                id=uuid.uuid4(),
                partner_id=partner.id,
                provisioning_id=new_provisioning_id(),
                name="Bench",
                service_provider_admin_id=admin.id,
                country="US",
                default_email_language="en_US",
                wholesale_subscription_id="Sub-1",
                brand_name="Bench",
            )
            session.add(template)
            token = identity.create_token(session, partner.id, "bench", list(ALL_SCOPES), None)
        made: list[Customer] = []
        for i in range(customers):
            async with db.transaction() as session:
                customer = Customer(
                    id=uuid.uuid4(),
                    partner_id=partner.id,
                    template_id=template.id,
                    provisioning_id=template.provisioning_id,
                    external_id=f"bench-{i}",
                    name=f"Bench {i}",
                    language="en_US",
                    org_id=uuid.uuid4(),
                    status="provisioned",
                    data_region="US",
                    address=ADDRESS,
                    packages=["webex_calling", "webex_meetings"],
                    provisioning_parameters={},
                    settings={},
                    resource_details={},
                    errors=[],
                    hq_location={
                        "locationId": str(uuid.uuid4()),
                        "name": "Headquarters",
                        "address": ADDRESS,
                        "timezone": "America/Los_Angeles",
                        "language": "en_US",
                    },
                )
                session.add(customer)
                await session.flush()
                hq = (await ensure_hq_location(session, customer)).location
                assert hq is not None
                wanted = inventory[i] if i < len(inventory) else []
                for start in range(0, len(wanted), 5000):
                    session.add_all(
                        PhoneNumber(
                            id=uuid.uuid4(),
                            partner_id=partner.id,
                            customer_id=customer.id,
                            location_id=hq.id,
                            phone_number=n,
                            number_type="DID",
                            state="ACTIVE",
                            main=False,
                        )
                        for n in wanted[start : start + 5000]
                    )
                    await session.flush()
                made.append(customer)
        return token.secret, made
    finally:
        await db.dispose()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    base: str,
    token: str,
    customer: Customer,
    count: int,
    clients: int,
    pool: list[str],
    server_pid: int,
    rate: float,
    first: int = 0,
    prefix: str = "api",
) -> dict[str, Any]:
    """``count`` subscriber POSTs (numbers ``first``…), half calling (number + extension), half
    meetings-only; throughput, p50/p99 from when each request was due, server CPU a request."""
    customer_ref = ids.encode("CUSTOMER", customer.id, "us")
    latencies: list[float] = []
    seconds: dict[int, list[float]] = {}  # the latencies of the requests due in each second
    errors: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    host, port = base.removeprefix("http://").split(":")
    target = "/v1/wholesale/subscribers"

    async def client() -> None:
        async with Connection(host, int(port), {"Authorization": f"Bearer {token}"}) as http:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                n = first + i
                body: dict[str, Any] = {
                    "customerId": customer_ref,
                    "email": f"{prefix}{n}@bench.example",
                }
                if n % 2:
                    body["packages"] = ["webex_calling"]
                    body["provisioningParameters"] = {
                        "firstName": "Api",
                        "lastName": str(n),
                        "primaryPhoneNumber": pool[n],
                        "extension": str(100000 + n),
                    }
                else:
                    body["packages"] = ["webex_meetings"]
                due = start + i / rate if rate > 0 else time.perf_counter()
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                # Measured from when the request was due, not from when a client got to send
                # it: a server that falls behind the rate shows it in the latencies.
                began = min(due, time.perf_counter())
                status, _, _ = await http.request("POST", target, body)
                latencies.append(time.perf_counter() - began)
                seconds.setdefault(int(began - start), []).append(latencies[-1])
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1

    cpu_before = process_cpu(server_pid)
    start = began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - began
    cpu = process_cpu(server_pid) - cpu_before
    return {
        "rps": count / elapsed,
        "p50": pct(latencies, 0.50),
        "p99": pct(latencies, 0.99),
        "cpu": cpu * 1000 / count,
        "errors": errors,
        "load": os.getloadavg()[0],
        "by_second": {second: pct(got, 0.99) for second, got in sorted(seconds.items())},
        # The same without the requests due in the first second (a freshly started server
        # opens its pool's connections and prepares its statements then).
        "p99_warm": pct([x for second, got in seconds.items() if second > 0 for x in got], 0.99)
        if len(seconds) > 1
        else float("nan"),
    }


async def provision(
    base: str,
    token: str,
    customer: Customer,
    count: int,
    clients: int,
    pool: list[str],
    server_pid: int,
    rate: float,
) -> None:
    got = await load(base, token, customer, count, clients, pool, server_pid, rate)
    offered = f"offered at {rate:.0f}/s" if rate > 0 else "as fast as they answer"
    print(f"1. API provisioning: {count} POSTs, {clients} concurrent clients, {offered}")
    print(f"   throughput {got['rps']:8.1f} requests/s   (target >= 500)")
    print(f"   POST p50 {got['p50']:6.1f} ms   p99 {got['p99']:6.1f} ms   (target p99 < 50 ms)")
    print(f"   serving process CPU {got['cpu']:5.2f} ms a request   load average {got['load']:.1f}")
    if got["errors"]:
        print(f"   non-200 answers: {got['errors']}")
    # Where the tail is: a warm-up shows in the first seconds, a periodic stall (a checkpoint,
    # autovacuum, a collection) in a second of its own.
    worst = sorted(got["by_second"].items(), key=lambda item: -item[1])[:3]
    print(f"   POST p99 without the first second (a warm server): {got['p99_warm']:6.1f} ms")
    print(
        "   p99 by the second the requests were due, the worst three: "
        + ", ".join(f"second {second}: {value:.1f} ms" for second, value in worst)
    )


def start_anchor(url: str, port: int) -> subprocess.Popen[bytes]:
    """bench/anchor.py on ``port``, on PartnerHub's database."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("anchor.py")),
            "--port",
            str(port),
            "--database-url",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    began = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"anchor exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() - began > 60:
            proc.kill()
            raise SystemExit("the anchor did not start in 60 s")
        time.sleep(0.1)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})"


async def compare(
    ph_base: str,
    anchor_base: str,
    token: str,
    customer: Customer,
    pool: list[str],
    ph_pid: int,
    anchor_pid: int,
    runs: int,
    count: int,
    clients: int,
    rate: float,
) -> None:
    """The anchor and PartnerHub one after the other, same client, same bodies; ``runs``
    rounds of (unpaced, paced at ``rate``), alternating which goes first."""
    modes = (("unpaced", 0.0), (f"paced {rate:.0f}/s", rate))
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    used = {"anchor": 0, "partnerhub": 0}
    for warm in ("anchor", "partnerhub"):  # connections, prepared statements, caches
        base, pid = (anchor_base, anchor_pid) if warm == "anchor" else (ph_base, ph_pid)
        await load(base, token, customer, 200, clients, pool, pid, 0.0, used[warm], warm)
        used[warm] += 200
    for run in range(runs):
        for mode, mode_rate in modes:
            order = ("anchor", "partnerhub") if run % 2 == 0 else ("partnerhub", "anchor")
            line = []
            for app in order:
                base, pid = (anchor_base, anchor_pid) if app == "anchor" else (ph_base, ph_pid)
                got = await load(
                    base, token, customer, count, clients, pool, pid, mode_rate, used[app], app
                )
                used[app] += count
                results.setdefault((mode, app), []).append(got)
                failed = f" errors {got['errors']}" if got["errors"] else ""
                line.append(
                    f"{app} {got['rps']:6.1f} req/s p50 {got['p50']:6.1f} p99 {got['p99']:6.1f}"
                    f" ms cpu {got['cpu']:4.2f} ms{failed}"
                )
            ratio = results[(mode, "partnerhub")][-1]["rps"] / results[(mode, "anchor")][-1]["rps"]
            print(
                f"run {run + 1} {mode:>12}: "
                + " | ".join(line)
                + f" | ratio {ratio:.2f} | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"\nmedian (min–max) of {runs} runs, {count} POSTs each, {clients} clients:")
    for mode, _ in modes:
        for app in ("anchor", "partnerhub"):
            got = results[(mode, app)]
            print(
                f"  {mode:>12} {app:>10}: req/s {spread([g['rps'] for g in got])}"
                f"  p50 {spread([g['p50'] for g in got])} ms  p99 {spread([g['p99'] for g in got])}"
                f" ms  cpu {spread([g['cpu'] for g in got])} ms"
            )
        ratios = [
            p["rps"] / a["rps"]
            for p, a in zip(results[(mode, "partnerhub")], results[(mode, "anchor")], strict=True)
        ]
        print(
            f"  {mode:>12}      ratio: {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}–{max(ratios):.2f})   (target >= 0.6 unpaced; p99 < 50 ms paced)"
        )
    print(f"  load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def import_csv(url: str, path: Path, customer: Customer, pool: list[str], rows: int) -> None:
    with path.open("w") as f:
        f.write("first_name,last_name,email,package,phone_number,extension\n")
        for i in range(rows):
            f.write(f"Csv,{i},csv{i}@bench.example,webex_calling,{pool[i]},{200000 + i}\n")
    env = {**os.environ, "PARTNERHUB_DATABASE_URL": url, "PARTNERHUB_LOG_LEVEL": "warning"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pg_before = postgres_cpu(url)
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "partnerhub",
            "import",
            "subscribers",
            str(path),
            "--customer",
            ids.encode("CUSTOMER", customer.id, "us"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = after.ru_maxrss / 1024
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pg = postgres_cpu(url) - pg_before
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT count(*), count(phone_number) FROM org_users WHERE customer_id = %s",
            (customer.id,),
        ).fetchone()
    print(f"2. CSV import of {rows} subscribers with numbers (partnerhub import subscribers)")
    print(f"   wall time {elapsed:6.1f} s   (target < 60 s)   exit {done.returncode}")
    print(
        f"   subscribers of the customer afterwards: {found[0] if found else 0}, "
        f"with a number: {found[1] if found else 0}"
    )
    print(f"   peak RSS  {peak_mb:6.0f} MB  (target < 500 MB; largest child process so far)")
    print(
        f"   CPU       {cpu:6.1f} s   (the CLI and its helper processes)   "
        f"PostgreSQL {pg:5.1f} s (its finished backends)   load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:])


def postgres_cpu(url: str) -> float:
    """CPU seconds of the embedded server's finished backends (the postmaster's reaped
    children): an import's connections end with its process. 0 if not on this machine."""
    try:
        data_dir = Path(url.split("host=", 1)[1].split("&")[0])
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def top_up(url: str, customers: list[Customer], total: int) -> int:
    """Fill the database to ``total`` subscribers, spread over the given customers."""
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM org_users").fetchone()
        missing = max(0, total - int(have[0] if have else 0))
        per = missing // len(customers) + 1
        for c in customers:
            conn.execute(
                """
                INSERT INTO org_users (id, partner_id, customer_id, org_id, email, roles, package,
                                       status, created, last_status_change)
                SELECT gen_random_uuid(), %(p)s, %(c)s, %(o)s,
                       'fill' || g || '-' || %(tag)s || '@bench.example', '{}', 'webex_meetings',
                       'provisioned', now() - make_interval(secs => g), now()
                FROM generate_series(1, %(n)s) AS g
                """,
                {"p": c.partner_id, "c": c.id, "o": c.org_id, "n": per, "tag": str(c.id)[:8]},
            )
        conn.execute("ANALYZE org_users")
        row = conn.execute("SELECT count(*) FROM org_users").fetchone()
        return int(row[0]) if row else 0


def explain_page(url: str, customer: Customer) -> str:
    """EXPLAIN ANALYZE of the list's page statement (the first page of ``customer``), as the
    API sends it (subscribers/repository.py, ``_PAGE``): the plan's first line and the time."""
    sql = (
        "EXPLAIN (ANALYZE, BUFFERS) SELECT id, customer_id, email, first_name, last_name,"
        " package, status, phone_number, extension, location_id, roles, created,"
        " last_status_change FROM org_users WHERE partner_id = %s AND customer_id = %s"
        " ORDER BY created, id LIMIT 51 OFFSET 0"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        partner = conn.execute(
            "SELECT partner_id FROM customers WHERE id = %s", (customer.id,)
        ).fetchone()
        assert partner is not None
        lines = [row[0] for row in conn.execute(sql, (partner[0], customer.id))]
    timing = [line.strip() for line in lines if "Execution Time" in line or "Planning Time" in line]
    return f"{lines[0].strip()}; {'; '.join(timing)}"


async def listing(
    base: str, token: str, customer: Customer, gets: int, total: int, server_pid: int
) -> None:
    ref = ids.encode("CUSTOMER", customer.id, "us")
    target = f"/v1/wholesale/subscribers?customerId={ref}"
    latencies: list[float] = []
    host, port = base.removeprefix("http://").split(":")
    async with Connection(host, int(port), {"Authorization": f"Bearer {token}"}) as http:
        for _ in range(20):  # warm-up
            await http.request("GET", target)
        cpu_before = process_cpu(server_pid)
        for _ in range(gets):
            began = time.perf_counter()
            status, _, content = await http.request("GET", target)
            latencies.append(time.perf_counter() - began)
            assert status == 200, content
        cpu = process_cpu(server_pid) - cpu_before
    print(f"3. GET /v1/wholesale/subscribers?customerId= with {total} subscribers in the database")
    print(
        f"   p50 {pct(latencies, 0.50):6.1f} ms   p99 {pct(latencies, 0.99):6.1f} ms"
        "   (target p99 < 20 ms)"
    )
    print(
        f"   serving process CPU {cpu * 1000 / gets:5.2f} ms a request (50 subscribers a page)"
        f"   load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rate",
        type=float,
        default=500.0,
        help="POSTs offered per second (0: as fast as the clients get answers)",
    )
    parser.add_argument("--gets", type=int, default=500)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run bench/anchor.py beside PartnerHub and compare their subscriber POSTs "
        "(--runs rounds of --requests POSTs, unpaced and paced at --rate); nothing else",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument(
        "--only",
        choices=("api", "import", "listing"),
        action="append",
        help="Run only this part (repeatable); default: all three.",
    )
    args = parser.parse_args()
    parts = set(args.only or ("api", "import", "listing"))
    if args.compare:
        parts = {"compare"}

    work = Path(tempfile.mkdtemp(prefix="partnerhub-bench-"))
    port = free_port()
    proc = serve(work / "data", port)
    url = f"postgresql://postgres@/partnerhub?host={work / 'data' / 'pgdata'}"
    base = f"http://127.0.0.1:{port}"
    try:
        api_pool = numbers(args.subscribers) if parts & {"api", "listing"} else []
        if "compare" in parts:
            api_pool = numbers(200 + args.runs * 2 * args.requests)
        import_pool = numbers(args.import_rows, start_exchange=300) if "import" in parts else []
        token, customers = asyncio.run(seed(url, 4, [api_pool, import_pool]))
        if parts & {"api", "listing"}:
            asyncio.run(
                provision(
                    base,
                    token,
                    customers[0],
                    args.subscribers,
                    args.clients,
                    api_pool,
                    proc.pid,
                    args.rate,
                )
            )
        if "compare" in parts:
            anchor_port = free_port()
            anchor = start_anchor(url, anchor_port)
            try:
                asyncio.run(
                    compare(
                        base,
                        f"http://127.0.0.1:{anchor_port}",
                        token,
                        customers[0],
                        api_pool,
                        proc.pid,
                        anchor.pid,
                        args.runs,
                        args.requests,
                        args.clients,
                        args.rate,
                    )
                )
            finally:
                anchor.terminate()
                anchor.wait(30)
        if "import" in parts:
            import_csv(url, work / "bench.csv", customers[1], import_pool, args.import_rows)
        if "listing" in parts:
            total = top_up(url, customers[2:], args.total)
            asyncio.run(listing(base, token, customers[0], args.gets, total, proc.pid))
            print(f"   the page statement: {explain_page(url, customers[0])}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
