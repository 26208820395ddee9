"""Scale-out run: two `partnerhub serve --no-worker` and two `partnerhub worker` processes on one
PostgreSQL server, driven concurrently by clients spread over both servers.

It creates a scratch database on the server (``partnerhub_scaleout_<random>``, dropped at the
end unless ``--keep``), starts the four processes *at the same time* on it (migrations and the
first-start bootstrap race), then:

1. provisions ``--customers`` customers through both servers (``--clients`` concurrent
   clients, each POST with an ``Idempotency-Key``); every POST is replayed with the same key on
   the *other* server (same status, body and ``Location``, ``Idempotency-Replayed: true``);
   every 10th key is sent to both servers at the same instant (one original, one replay); every
   25th key is reused on the other server with another body (422, errorCode 1403);
2. waits until both workers have provisioned every customer and checks in the database: one
   customer per key, one organization, one full administrator and one invitation email per
   customer, a status history of exactly ``provisioning,provisioned``, and which worker ran
   which job;
3. provisions ``--subscribers`` subscribers through both servers; every 20th email is POSTed on
   both servers at once (one 200, one 409 10022), and for a few customers one extension is
   raced by two subscribers (one 200, one 409 1210); every subscriber is read back through the
   other server;
4. concurrent PUTs through both servers on ``--puts`` customers (each answer 202 or 409 1201,
   one update cycle per accepted PUT, the final state one of the accepted ones) and on
   ``--puts`` subscribers (both 200, both servers then agree on one of the two);
5. rate limits shared: with ``PARTNERHUB_RATE_LIMIT_PER_TOKEN=--rate-limit``, a fresh token
   sends twice the limit, half to each server, inside one minute window: exactly the limit is
   answered, the rest is 429 with ``Retry-After`` (per-process counters would let twice the
   limit through). The other phases rotate over a pool of tokens so they never reach it.

It prints the figures and every failed check; exit status 1 if any check failed.

    .venv/bin/python scripts/scaleout.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
        [--customers 200] [--subscribers 400] [--clients 16] [--puts 40] [--rate-limit 60]
        [--database-url URL] [--restart-command CMD] [--restart-at 0.4]

``--database-url`` runs on that existing, empty database instead of a scratch one (kept: it is
the caller's), reached as given — e.g. through PgBouncer, or a multi-host URL; the processes
also take every ``PARTNERHUB_*`` variable of the environment (such as
``PARTNERHUB_DATABASE_PREPARED_STATEMENTS=false`` and ``PARTNERHUB_WORKER_LISTEN=false``
behind PgBouncer in transaction mode). ``--restart-command`` (a command line, e.g. ``pg_ctlcluster
15 main restart``) runs once ``--restart-at`` of the customer POSTs are sent, while the clients
go on: every request then answered 503 (errorCode 1600, ``Retry-After``) or refused is retried
until answered (a POST with its ``Idempotency-Key``), and every check must still hold — nothing
lost, nothing twice (``scripts/ci_pgbouncer.sh``).

``run(database_url, Options(...))`` is the same run on an existing, migrated and empty database
(the test suite's ``tests/reliability/scaleout``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

ADMIN_EMAIL = "scaleout@partnerhub.local"
CUSTOMERS = "/v1/wholesale/customers"
SUBSCRIBERS = "/v1/wholesale/subscribers"
SETTLED = ["provisioned", "provisioned_with_errors", "error"]
ADDRESS = {
    "addressLine1": "771 Alder Drive",
    "city": "Milpitas",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "95035",
    "country": "US",
}


@dataclass
class Options:
    customers: int = 200
    subscribers: int = 400
    clients: int = 16
    puts: int = 40
    rate_limit: int = 60  # PARTNERHUB_RATE_LIMIT_PER_TOKEN of the run (per minute)
    fault_latency_ms: int = 50  # every downstream call of the workers takes this long
    pool_size: int = 3  # PARTNERHUB_DB_POOL_SIZE of each process
    worker_concurrency: int = 4
    settle_seconds: float = 300.0
    log_dir: Path | None = None  # the processes' output; default a temporary directory
    quiet: bool = False
    restart_command: str | None = None  # run (shell) during the customer POSTs
    restart_at: float = 0.4  # … once this share of them is sent
    retry_seconds: float = 120.0  # with a restart: how long a request is retried (503, refused)


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    log_dir: Path | None = None

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
        return ok


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """Two `serve --no-worker` and two `worker` processes on one database."""

    database_url: str
    options: Options
    log_dir: Path
    ports: list[int] = field(default_factory=list)
    secret: str = field(default_factory=lambda: "scaleout-" + secrets.token_hex(16))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, port: int | None = None) -> dict[str, str]:
        o = self.options
        env = {
            **os.environ,
            "PARTNERHUB_DATABASE_URL": self.database_url,
            "PARTNERHUB_DATA_DIR": str(self.log_dir / "data"),
            "PARTNERHUB_ADMIN_EMAIL": ADMIN_EMAIL,
            "PARTNERHUB_ADMIN_PASSWORD": "scaleout-only-password",
            "PARTNERHUB_LOG_LEVEL": "warning",
            "PARTNERHUB_BACKEND": "fault",
            "PARTNERHUB_FAULT_LATENCY_MS": str(o.fault_latency_ms),
            "PARTNERHUB_RATE_LIMIT_PER_TOKEN": str(o.rate_limit),
            "PARTNERHUB_RATE_LIMIT_PER_ADDRESS": "0",
            "PARTNERHUB_DB_POOL_SIZE": str(o.pool_size),
            "PARTNERHUB_WORKER_CONCURRENCY": str(o.worker_concurrency),
            # one secret for the installation (else the first process to need one stores it)
            "PARTNERHUB_SECRET_KEY": self.secret,
        }
        if port is not None:
            env["PARTNERHUB_PORT"] = str(port)
        return env

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "partnerhub", *command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def _workers_registered(self, after: int) -> int:
        """procrastinate workers registered with an id above ``after`` (0 before migration)."""
        try:
            rows = query(
                self.database_url,
                "SELECT count(*) FROM procrastinate_workers WHERE id > %s",
                [after],
            )
        except psycopg.errors.UndefinedTable:
            return 0
        return int(rows[0][0])

    def start(self, within: float = 180.0) -> float:
        """Start all four at once; seconds until both servers answer /readyz and both workers
        have registered (so that both can take the first jobs)."""
        try:
            before = query(
                self.database_url, "SELECT coalesce(max(id), 0) FROM procrastinate_workers"
            )[0][0]
        except psycopg.errors.UndefinedTable:
            before = 0
        self.ports = [free_port(), free_port()]
        began = time.monotonic()
        for i, port in enumerate(self.ports):
            self._spawn(f"serve{i + 1}", ["serve", "--no-worker"], self.env(port))
        for i in range(2):
            self._spawn(f"worker{i + 1}", ["worker"], self.env())
        waiting = set(self.ports)
        while waiting or self._workers_registered(before) < 2:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
            for port in list(waiting):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        waiting.discard(port)
                except httpx.HTTPError:
                    pass
            if time.monotonic() - began > within:
                self.stop()
                raise RuntimeError(f"processes not ready within {within} s")
            time.sleep(0.2)
        return time.monotonic() - began

    def cpu_seconds(self) -> float:
        """User + system CPU time the processes used so far (from /proc; Linux)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for proc in self.processes.values():
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return round(total / ticks, 1)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def tail(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> dict[str, int | None]:
        """SIGTERM the workers and SIGINT the servers; their exit codes."""
        for name, proc in self.processes.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if name.startswith("worker") else signal.SIGINT)
        codes: dict[str, int | None] = {}
        for name, proc in self.processes.items():
            try:
                codes[name] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes[name] = None
        return codes

    def log_errors(self, database_away: bool = False) -> tuple[list[str], int]:
        """ERROR records and tracebacks in the processes' logs, and — with ``database_away``
        (a run that restarts PostgreSQL) — how many were left out because the database was
        away: a record whose text or traceback names a lost connection (procrastinate logs a
        job status it could not write, or a heartbeat, at ERROR)."""
        out: list[str] = []
        excused = 0
        for name in self.processes:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
            for record in log_records(text):
                first = record[0]
                if not ("Traceback" in first or " ERROR " in first or first.startswith("ERROR")):
                    continue
                if database_away and any(m in line for line in record for m in DATABASE_AWAY):
                    excused += 1
                    continue
                out.append(f"{name}: {first.strip()[:200]}")
                out += [f"{name}:   {line.strip()[:200]}" for line in record[-3:] if line.strip()]
        return out, excused


# What a record caused by the database going away names (psycopg's class 08 and 57 errors,
# PgBouncer's messages, procrastinate's wrapper of them).
DATABASE_AWAY = (
    "psycopg.OperationalError",
    "psycopg.errors.AdminShutdown",
    "psycopg.errors.ProtocolViolation",
    "psycopg.errors.CannotConnectNow",
    "psycopg.errors.ConnectionFailure",
    "sqlalchemy.exc.OperationalError",
    "ConnectorException",
    "server login has been failing",
    "terminating connection due to administrator command",
    "the database system is shutting down",
    "the database system is starting up",
    "server closed the connection unexpectedly",
    "consuming input failed",
)


def log_records(text: str) -> list[list[str]]:
    """A log's lines grouped by record: a line that starts with a date begins one (its
    traceback and other continuation lines follow)."""
    records: list[list[str]] = []
    for line in text.splitlines():
        if not records or (line[:4].isdigit() and line[4:5] == "-"):
            records.append([line])
        else:
            records[-1].append(line)
    return records


# --- helpers ------------------------------------------------------------------------------


def query(
    url: str, sql: str, params: Iterable[Any] = (), retry_seconds: float = 60.0
) -> list[tuple[Any, ...]]:
    """One statement on a connection of its own; retried while the database is away."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                return list(conn.execute(sql, tuple(params)).fetchall())
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def error_code(response: httpx.Response) -> int | None:
    try:
        return int(response.json()["errors"][0]["errorCode"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def customer_body(pid: str, n: int, run: str) -> dict[str, Any]:
    return {
        "provisioningId": pid,
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": f"so-{run}-{n}",
        "address": ADDRESS,
        "customerInfo": {
            "name": f"Scale-out {n}",
            "primaryEmail": f"admin{n}@c{n}.{run}.scaleout.example",
        },
        "provisioningParameters": {
            "calling": {
                "location": {
                    "name": "HQ",
                    "address": ADDRESS,
                    "timezone": "America/Los_Angeles",
                    "language": "en_US",
                }
            }
        },
    }


class TokenPool:
    """Bearer tokens, each used at most ``per_token`` times, so that no token of the workload
    ever reaches the per-token rate limit (the rate-limit phase uses its own)."""

    def __init__(self, database_url: str, partner_id: Any, per_token: int) -> None:
        self.url = database_url
        self.partner_id = partner_id
        self.per_token = max(1, per_token)
        self.tokens: list[str] = []
        self.uses = 0
        self.lock = asyncio.Lock()

    async def create(self, count: int) -> list[tuple[str, Any]]:
        from sqlalchemy.exc import DBAPIError

        from partnerhub.catalog.roles import ALL_SCOPES
        from partnerhub.db import Database
        from partnerhub.identity import service as identity

        deadline = time.monotonic() + 60
        while True:
            db = Database(self.url, 1, prepared_statements=False)
            try:
                async with db.transaction() as session:
                    made = [
                        identity.create_token(
                            session, self.partner_id, f"scaleout-{i}", list(ALL_SCOPES), None
                        )
                        for i in range(count)
                    ]
                return [(m.secret, m.token.id) for m in made]
            except (DBAPIError, psycopg.OperationalError):  # the database restarts
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.5)
            finally:
                await db.dispose()

    async def next(self) -> str:
        async with self.lock:
            index = self.uses // self.per_token
            self.uses += 1
            while index >= len(self.tokens):
                self.tokens += [secret for secret, _ in await self.create(20)]
            return self.tokens[index]


RETRIED = "partnerhub_scaleout_attempts"  # in a response's extensions: attempts it took


def attempts(response: httpx.Response) -> int:
    return int(response.extensions.get(RETRIED, 1))


class Driver:
    def __init__(self, urls: list[str], pool: TokenPool, retry_seconds: float = 0.0) -> None:
        limits = httpx.Limits(
            max_connections=100, max_keepalive_connections=100, keepalive_expiry=2
        )
        self.clients = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in urls]
        self.pool = pool
        self.per_server: Counter[int] = Counter()
        self.statuses: Counter[int] = Counter()
        # While the database restarts (a run with --restart-command): answers retried.
        self.retry_seconds = retry_seconds
        self.unavailable: Counter[str] = Counter()
        self.unavailable_bad: list[str] = []  # 503s not in the contract's shape
        self.unavailable_times: list[float] = []  # when each 503 came (monotonic)

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()

    async def call(
        self, server: int, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["Authorization"] = f"Bearer {token or await self.pool.next()}"
        client = self.clients[server % 2]
        deadline = time.monotonic() + self.retry_seconds
        tries = 0
        while True:
            tries += 1
            try:
                response = await client.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                if time.monotonic() >= deadline:
                    raise
                self.unavailable["refused or reset (retried)"] += 1
                await asyncio.sleep(0.25)
                continue
            if response.status_code == 503 and time.monotonic() < deadline:
                self.unavailable["503 (retried)"] += 1
                self.unavailable_times.append(time.monotonic())
                if error_code(response) != 1600 or not response.headers.get("Retry-After"):
                    self.unavailable_bad.append(f"{method} {path}: {response.text[:200]}")
                # Retry-After says 5 s; a client in a hurry (this run) tries again sooner.
                await asyncio.sleep(0.25)
                continue
            break
        response.extensions[RETRIED] = tries
        self.per_server[server % 2] += 1
        self.statuses[response.status_code] += 1
        return response


async def spread(count: int, clients: int, job: Callable[[int, int], Awaitable[None]]) -> float:
    """Run ``job(n, client)`` for n in range(count) on ``clients`` concurrent clients; client
    ``c`` talks to server ``c % 2`` first. Returns the wall time."""
    numbers = iter(range(count))

    async def client(c: int) -> None:
        for n in numbers:
            await job(n, c)

    began = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return time.perf_counter() - began


def wait_until(
    predicate: Callable[[], bool], within: float, what: str, report: Report, poll: float = 0.2
) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < within:
        if predicate():
            return time.monotonic() - began
        time.sleep(poll)
    report.check(False, f"timed out after {within:.0f} s waiting for {what}")
    return None


# --- the phases ---------------------------------------------------------------------------


async def phase_customers(
    d: Driver, url: str, pid: str, run: str, o: Options, report: Report
) -> list[str]:
    """Provision customers through both servers, with idempotency replays across them."""
    latencies: list[float] = []
    locations: dict[int, str] = {}
    replays = concurrent = mismatched = 0
    restart: asyncio.Task[tuple[float, float, float]] | None = None
    restart_after = int(o.restart_at * o.customers)

    async def job(n: int, c: int) -> None:
        nonlocal replays, concurrent, mismatched, restart
        if o.restart_command and n == restart_after and restart is None:
            log = (o.log_dir or Path(tempfile.gettempdir())) / "restart.log"
            restart = asyncio.create_task(restart_database(o.restart_command, log))
        body = customer_body(pid, n, run)
        key = {"Idempotency-Key": f"so-{run}-{n}"}
        mine, other = c % 2, (c + 1) % 2
        began = time.perf_counter()
        if n % 10 == 0:  # the same key on both servers at the same instant
            pair = await asyncio.gather(
                d.call(mine, "POST", CUSTOMERS, json=body, headers=key),
                d.call(other, "POST", CUSTOMERS, json=body, headers=key),
            )
            latencies.append(time.perf_counter() - began)
            concurrent += 1
            ok = report.check(
                all(r.status_code == 202 for r in pair),
                f"concurrent POST {n}: {[r.status_code for r in pair]} {pair[0].text[:200]}",
            )
            if ok:
                report.check(
                    pair[0].json() == pair[1].json()
                    and pair[0].headers["Location"] == pair[1].headers["Location"],
                    f"concurrent POST {n}: two different answers",
                )
                replayed = [r.headers.get("Idempotency-Replayed") == "true" for r in pair]
                # A POST retried after a 503 may find its first attempt committed (the answer
                # was lost): then both answers are replays of that one original.
                retried = any(attempts(r) > 1 for r in pair)
                report.check(
                    sorted(replayed) == [False, True] or (retried and all(replayed)),
                    f"concurrent POST {n}: replayed flags {replayed} (want one original)",
                )
                locations[n] = pair[0].headers["Location"]
            return
        first = await d.call(mine, "POST", CUSTOMERS, json=body, headers=key)
        latencies.append(time.perf_counter() - began)
        if not report.check(
            first.status_code == 202, f"POST {n}: {first.status_code} {first.text}"
        ):
            return
        locations[n] = first.headers["Location"]
        again = await d.call(other, "POST", CUSTOMERS, json=body, headers=key)
        replays += 1
        report.check(
            again.status_code == 202
            and again.content == first.content
            and again.headers.get("Location") == first.headers["Location"]
            and again.headers.get("Idempotency-Replayed") == "true",
            f"replay of {n} on the other server: {again.status_code} {again.text[:200]}",
        )
        if n % 25 == 1:  # the key reused with another request
            changed = {**body, "externalId": f"so-{run}-{n}-changed"}
            misuse = await d.call(other, "POST", CUSTOMERS, json=changed, headers=key)
            mismatched += 1
            report.check(
                misuse.status_code == 422 and error_code(misuse) == 1403,
                f"key {n} reused with another body: {misuse.status_code} {misuse.text[:200]}",
            )

    wall = await spread(o.customers, o.clients, job)
    if restart is not None:
        began, ended, code = await restart
        report.check(code == 0, f"the restart command exited with {code}")
        report.figures["PostgreSQL restart: command seconds, after customer POST"] = (
            round(ended - began, 1),
            restart_after,
        )
        late = [t - ended for t in d.unavailable_times if t > ended]
        report.figures["PostgreSQL restart: 503s / last 503 after it ended (s)"] = (
            d.unavailable["503 (retried)"],
            round(max(late), 2) if late else None,
        )
    report.figures["customers POSTed"] = o.customers
    report.figures["customer POST throughput (requests/s, first POSTs)"] = round(
        o.customers / wall, 1
    )
    report.figures["customer POST p50 / p99 (ms)"] = (
        round(statistics.median(latencies) * 1000, 1),
        round(pct(latencies, 0.99) * 1000, 1),
    )
    report.figures["replays on the other server"] = replays
    report.figures["keys sent to both servers at once"] = concurrent
    report.figures["keys reused with another body (422)"] = mismatched
    return [locations[n] for n in sorted(locations)]


async def restart_database(command: str, log: Path) -> tuple[float, float, float]:
    """Run the restart command (while the clients go on); (start, end, exit status). Its
    output goes to ``log`` (a file: a server it starts may keep a pipe open for ever)."""
    began = time.monotonic()
    with log.open("ab") as out:
        done = await asyncio.to_thread(
            subprocess.run,
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return began, time.monotonic(), done.returncode


def check_customers(url: str, o: Options, report: Report, label: str) -> None:
    rows = query(
        url,
        "SELECT count(*), count(DISTINCT external_id), count(DISTINCT org_id),"
        " count(*) FILTER (WHERE status = 'provisioned') FROM customers",
    )
    total, externals, orgs, provisioned = rows[0]
    report.check(total == o.customers, f"{label}: {total} customers for {o.customers} keys")
    report.check(externals == total, f"{label}: duplicate external ids")
    report.check(orgs == total, f"{label}: {orgs} organizations for {total} customers")
    report.check(provisioned == total, f"{label}: {provisioned} of {total} provisioned")
    admins = query(
        url,
        "SELECT count(*), count(DISTINCT u.customer_id),"
        " count(*) FILTER (WHERE lower(u.email) = lower(c.primary_email))"
        " FROM org_users u JOIN customers c ON c.id = u.customer_id"
        " WHERE 'full_admin' = ANY(u.roles)",
    )[0]
    report.check(
        admins == (total, total, total),
        f"{label}: administrators (rows, customers, right email) {admins} for {total} customers",
    )
    mails = query(
        url,
        "SELECT count(*), count(DISTINCT customer_id) FROM outbox_emails"
        " WHERE kind = 'admin_invite'",
    )[0]
    report.check(mails == (total, total), f"{label}: invitation emails (rows, customers) {mails}")
    report.figures[f"{label}: customers / organizations / administrators / invitations"] = (
        total,
        orgs,
        admins[0],
        mails[0],
    )


async def phase_subscribers(
    d: Driver, url: str, customer_ids: list[str], run: str, o: Options, report: Report
) -> list[tuple[str, dict[str, Any]]]:
    latencies: list[float] = []
    made: list[tuple[str, dict[str, Any]]] = []
    duplicates = 0

    def body(n: int) -> dict[str, Any]:
        customer = customer_ids[n % len(customer_ids)]
        return {
            "customerId": customer,
            "email": f"user{n}@{run}.scaleout.example",
            "packages": ["webex_meetings"],
            "provisioningParameters": {"firstName": f"User{n}", "lastName": "Scale"},
        }

    async def job(n: int, c: int) -> None:
        nonlocal duplicates
        mine, other = c % 2, (c + 1) % 2
        began = time.perf_counter()
        if n % 20 == 0:  # the same email on both servers at once
            pair = await asyncio.gather(
                d.call(mine, "POST", SUBSCRIBERS, json=body(n)),
                d.call(other, "POST", SUBSCRIBERS, json=body(n)),
            )
            latencies.append(time.perf_counter() - began)
            duplicates += 1
            codes = sorted((r.status_code, error_code(r)) for r in pair)
            if report.check(
                codes == [(200, None), (409, 10022)],
                f"subscriber {n} POSTed on both servers: {codes}",
            ):
                winner = next(r for r in pair if r.status_code == 200)
                made.append((winner.headers["Location"], winner.json()))
            return
        response = await d.call(mine, "POST", SUBSCRIBERS, json=body(n))
        latencies.append(time.perf_counter() - began)
        if report.check(
            response.status_code == 200, f"subscriber {n}: {response.status_code} {response.text}"
        ):
            made.append((response.headers["Location"], response.json()))

    wall = await spread(o.subscribers, o.clients, job)
    report.figures["subscribers POSTed"] = o.subscribers
    report.figures["subscriber POST throughput (requests/s)"] = round(o.subscribers / wall, 1)
    report.figures["subscriber POST p50 / p99 (ms)"] = (
        round(statistics.median(latencies) * 1000, 1),
        round(pct(latencies, 0.99) * 1000, 1),
    )
    report.figures["emails POSTed on both servers at once"] = duplicates

    # one extension raced by two subscribers of one customer, one on each server
    races = min(5, len(customer_ids))
    for i in range(races):
        pair = await asyncio.gather(
            *(
                d.call(
                    s,
                    "POST",
                    SUBSCRIBERS,
                    json={
                        "customerId": customer_ids[i],
                        "email": f"ext{i}-{s}@{run}.scaleout.example",
                        "packages": ["webex_calling"],
                        "provisioningParameters": {"extension": "5000"},
                    },
                )
                for s in (0, 1)
            )
        )
        codes = sorted((r.status_code, error_code(r)) for r in pair)
        if report.check(codes == [(200, None), (409, 1210)], f"extension race {i}: {codes}"):
            winner = next(r for r in pair if r.status_code == 200)
            made.append((winner.headers["Location"], winner.json()))
    report.figures["extensions raced across servers"] = races

    # every subscriber, read back (client c reads through the other server than it wrote to)
    mismatch = 0

    async def read(n: int, c: int) -> None:
        nonlocal mismatch
        location, created = made[n]
        path = httpx.URL(location).path
        response = await d.call(c + 1, "GET", path)
        if response.status_code != 200 or response.json() != created:
            mismatch += 1

    await spread(len(made), o.clients, read)
    report.check(mismatch == 0, f"{mismatch} subscribers read back differently")

    users = query(
        url,
        "SELECT count(*), count(DISTINCT lower(email)) FROM org_users"
        " WHERE NOT ('full_admin' = ANY(roles))",
    )[0]
    expected = o.subscribers + races
    report.check(
        users == (expected, expected), f"subscribers in the database {users}, want {expected}"
    )
    owners = query(
        url,
        "SELECT count(*) FROM org_users WHERE extension = '5000'",
    )[0][0]
    report.check(owners == races, f"{owners} owners of raced extensions, want {races}")
    report.figures["subscribers in the database"] = users[0]
    return made


async def phase_puts(
    d: Driver,
    url: str,
    customers: list[str],
    subscribers: list[tuple[str, dict[str, Any]]],
    run: str,
    o: Options,
    report: Report,
) -> None:
    outcomes: Counter[str] = Counter()
    accepted_ids: dict[str, list[str]] = {}

    async def put_customer(n: int, c: int) -> None:
        path = httpx.URL(customers[n]).path
        bodies = [
            {"packages": ["webex_calling", "webex_meetings"], "externalId": f"so-{run}-put{s}-{n}"}
            for s in (0, 1)
        ]
        pair = await asyncio.gather(*(d.call(s, "PUT", path, json=bodies[s]) for s in (0, 1)))
        accepted: list[str] = []
        for s, r in enumerate(pair):
            if r.status_code == 202:
                outcomes["202"] += 1
                accepted.append(str(bodies[s]["externalId"]))
            elif r.status_code == 409 and error_code(r) == 1201:
                outcomes["409 1201"] += 1
            else:
                outcomes[str(r.status_code)] += 1
                report.check(False, f"PUT customer {n}: {r.status_code} {r.text[:200]}")
        report.check(bool(accepted), f"PUT customer {n}: neither PUT accepted")
        accepted_ids[path.rsplit("/", 1)[-1]] = accepted

    puts = min(o.puts, len(customers))
    await spread(puts, o.clients, put_customer)
    report.figures["concurrent customer PUT pairs (answers)"] = (puts, dict(outcomes))

    def settled() -> bool:
        rows = query(url, "SELECT count(*) FROM customers WHERE status <> ALL(%s)", [SETTLED])
        return bool(rows[0][0] == 0)

    wait_until(settled, o.settle_seconds, "the PUTs to settle", report)
    from partnerhub import ids

    for encoded, accepted in accepted_ids.items():
        uid = ids.decode("CUSTOMER", encoded)
        (final, status), *_ = query(
            url, "SELECT external_id, status FROM customers WHERE id = %s", [uid]
        )
        cycles = query(
            url,
            "SELECT count(*) FROM customer_events WHERE customer_id = %s"
            " AND kind = 'status' AND status = 'updating'",
            [uid],
        )[0][0]
        report.check(
            final in accepted and status == "provisioned" and cycles == len(accepted),
            f"customer after concurrent PUTs: {final} {status}, {cycles} update cycles for"
            f" accepted {accepted}",
        )

    both = 0

    async def put_subscriber(n: int, c: int) -> None:
        nonlocal both
        path = httpx.URL(plain[n][0]).path
        names = [f"Put{s}-{n}" for s in (0, 1)]
        pair = await asyncio.gather(
            *(
                d.call(
                    s,
                    "PUT",
                    path,
                    json={
                        "packages": ["webex_meetings"],
                        "provisioningParameters": {"firstName": names[s]},
                    },
                )
                for s in (0, 1)
            )
        )
        if not report.check(
            [r.status_code for r in pair] == [200, 200],
            f"PUT subscriber {n}: {[(r.status_code, r.text[:100]) for r in pair]}",
        ):
            return
        both += 1
        seen = [await d.call(s, "GET", path) for s in (0, 1)]
        report.check(
            seen[0].json() == seen[1].json() and seen[0].json().get("firstName") in names,
            f"PUT subscriber {n}: the servers disagree or the name is lost",
        )

    plain = [s for s in subscribers if s[1].get("packages") == ["webex_meetings"]]
    count = min(o.puts, len(plain))
    await spread(count, o.clients, put_subscriber)
    report.figures["concurrent subscriber PUT pairs (both 200)"] = (count, both)


async def rate_burst(
    d: Driver, secret: str, count: int
) -> tuple[Counter[int], Counter[tuple[int, int]], int, float]:
    """``count`` GETs with one token, alternating between the servers, 8 at a time."""
    answers: Counter[int] = Counter()
    per_server: Counter[tuple[int, int]] = Counter()
    retry_after_missing = 0

    async def hit(n: int, c: int) -> None:
        nonlocal retry_after_missing
        server = n % 2
        r = await d.call(server, "GET", CUSTOMERS, token=secret, params={"max": "1"})
        answers[r.status_code] += 1
        per_server[(server, r.status_code)] += 1
        if r.status_code == 429 and not r.headers.get("Retry-After", "").isdigit():
            retry_after_missing += 1

    wall = await spread(count, 8, hit)
    return answers, per_server, retry_after_missing, wall


async def phase_rate_limit(
    d: Driver, url: str, pool: TokenPool, o: Options, report: Report
) -> None:
    """A fresh token sends twice its limit, half to each server, in one one-minute window."""

    def minute() -> datetime:
        return datetime.now(UTC).replace(second=0, microsecond=0)

    attempts = 0
    while True:
        attempts += 1
        (secret, token_id), *_ = await pool.create(1)
        window = minute()
        answers, per_server, retry_after_missing, wall = await rate_burst(
            d, secret, 2 * o.rate_limit
        )
        # the counters' window turned during the burst: the figures would not add up; again
        if minute() == window or attempts == 3:
            break
    report.figures["rate limit: attempts (a window boundary fell inside)"] = attempts
    report.check(
        dict(answers) == {200: o.rate_limit, 429: o.rate_limit},
        f"rate limit {o.rate_limit}/min across two servers: answers {dict(answers)}"
        f" in {wall:.1f} s",
    )
    report.check(retry_after_missing == 0, f"{retry_after_missing} 429s without Retry-After")
    # one counter row for the token, in PostgreSQL, counting both servers' requests (a refused
    # request may or may not count: at least the limit, at most every request)
    hits = query(url, "SELECT sum(hits) FROM rate_counters WHERE key LIKE %s", [f"%{token_id}%"])[
        0
    ][0]
    report.check(
        hits is not None and o.rate_limit <= hits <= 2 * o.rate_limit,
        f"rate counter of the token: {hits}",
    )
    report.figures["rate limit: the token's counter in PostgreSQL"] = hits
    report.figures["rate limit: requests / 200 / 429 (limit per token)"] = (
        2 * o.rate_limit,
        answers[200],
        answers[429],
        o.rate_limit,
    )
    report.figures["rate limit: 200s per server"] = (per_server[(0, 200)], per_server[(1, 200)])


def lost_and_duplicated(
    url: str, customers: list[str], subscribers: list[tuple[str, dict[str, Any]]]
) -> tuple[int, int]:
    """Acknowledged customers and subscribers missing from the database, and rows beyond one
    per acknowledgement (customers, their organizations, first administrators and invitation
    emails; subscribers)."""
    from partnerhub import ids

    customer_ids = {ids.decode("CUSTOMER", httpx.URL(c).path.rsplit("/", 1)[-1]) for c in customers}
    (total, orgs, admins, mails), *_ = query(
        url,
        "SELECT (SELECT count(*) FROM customers), (SELECT count(DISTINCT org_id) FROM customers),"
        " (SELECT count(*) FROM org_users WHERE 'full_admin' = ANY(roles)),"
        " (SELECT count(*) FROM outbox_emails WHERE kind = 'admin_invite')",
    )
    present = {
        r[0]
        for r in query(url, "SELECT id FROM customers WHERE id = ANY(%s)", [list(customer_ids)])
    }
    subscriber_total = query(
        url, "SELECT count(*) FROM org_users WHERE NOT ('full_admin' = ANY(roles))"
    )[0][0]
    emails = {str(s[1].get("email", "")).lower() for s in subscribers}
    found = query(
        url,
        "SELECT count(DISTINCT lower(email)) FROM org_users WHERE lower(email) = ANY(%s)",
        [sorted(emails)],
    )[0][0]
    lost = (len(customer_ids) - len(present)) + (len(emails) - found)
    n = len(customer_ids)
    twice = (
        max(0, total - n)
        + max(0, orgs - n)
        + max(0, admins - n)
        + max(0, mails - n)
        + max(0, subscriber_total - len(subscribers))
    )
    return lost, twice


def jobs_per_worker(url: str) -> list[int]:
    rows = query(
        url,
        "SELECT worker_id, count(*) FROM procrastinate_jobs"
        " WHERE task_name = 'customers.provision' AND status = 'succeeded'"
        " GROUP BY worker_id ORDER BY 2 DESC",
    )
    return [int(r[1]) for r in rows]


async def drive(cluster: Cluster, report: Report) -> None:
    o = cluster.options
    url = cluster.database_url
    run = secrets.token_hex(3)
    partners = query(url, "SELECT id FROM partners WHERE parent_id IS NULL")
    report.check(
        len(partners) == 1, f"{len(partners)} partners bootstrapped by two servers starting at once"
    )
    partner_id = partners[0][0]
    pool = TokenPool(url, partner_id, per_token=max(1, o.rate_limit // 2))
    d = Driver(cluster.urls, pool, o.retry_seconds if o.restart_command else 0.0)
    try:
        template = await d.call(
            0,
            "POST",
            "/v1/partner/templates",
            json={
                "name": f"Scale-out {run}",
                "serviceProviderAdminEmail": ADMIN_EMAIL,
                "country": "US",
                "defaultEmailLanguage": "en_US",
                "wholesaleSubscriptionId": "Sub-scaleout",
                "email": {"brandName": "Scale-out Cloud"},
            },
        )
        assert template.status_code == 201, template.text
        pid = template.json()["provisioningId"]

        began = time.monotonic()
        customers = await phase_customers(d, url, pid, run, o, report)
        last_post = time.monotonic()

        def settled() -> bool:
            rows = query(
                url,
                "SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FROM customers",
                [SETTLED],
            )
            return bool(rows[0][0] == rows[0][1])

        waited = wait_until(settled, o.settle_seconds, "every customer to be provisioned", report)
        if waited is not None:
            report.figures["all provisioned after the last POST (s)"] = round(
                time.monotonic() - last_post, 2
            )
        per_worker = jobs_per_worker(url)
        report.figures["provisioning jobs per worker"] = per_worker
        # (a worker that lost the database starts again under a new procrastinate worker id)
        report.check(
            (len(per_worker) == 2 or (o.restart_command and len(per_worker) > 2))
            and min(per_worker) > 0,
            f"provisioning jobs not shared by both workers: {per_worker}",
        )
        histories = query(
            url,
            "SELECT h, count(*) FROM (SELECT string_agg(status, ',' ORDER BY created, id) AS h"
            " FROM customer_events WHERE kind = 'status' GROUP BY customer_id) t GROUP BY h",
        )
        report.check(
            histories == [("provisioning,provisioned", o.customers)],
            f"status histories {histories}",
        )
        check_customers(url, o, report, "after provisioning")
        marks = [time.monotonic()]
        subscribers = await phase_subscribers(
            d, url, [httpx.URL(c).path.rsplit("/", 1)[-1] for c in customers], run, o, report
        )
        marks.append(time.monotonic())
        await phase_puts(d, url, customers, subscribers, run, o, report)
        check_customers(url, o, report, "after the PUTs")
        marks.append(time.monotonic())
        await phase_rate_limit(d, url, pool, o, report)
        marks.append(time.monotonic())
        report.figures["phase seconds: customers / subscribers / PUTs / rate limit"] = tuple(
            round(b - a, 1) for a, b in zip([began, *marks], marks, strict=False)
        )
        report.figures["requests per server"] = (d.per_server[0], d.per_server[1])
        report.figures["answers by status"] = dict(sorted(d.statuses.items()))
        if o.restart_command:
            report.figures["retried while PostgreSQL restarted"] = dict(d.unavailable)
            report.check(
                not d.unavailable_bad,
                "503s not in the contract's shape:\n  " + "\n  ".join(d.unavailable_bad[:10]),
            )
        lost, twice = lost_and_duplicated(url, customers, subscribers)
        report.figures["lost / duplicated (customers and subscribers acknowledged)"] = (
            lost,
            twice,
        )
        report.check(lost == 0 and twice == 0, f"{lost} lost, {twice} duplicated")
        report.check(
            not any(code >= 500 for code in d.statuses), f"5xx answers: {dict(d.statuses)}"
        )
        report.figures["tokens used by the workload"] = len(pool.tokens)
    finally:
        await d.close()


def run(database_url: str, options: Options | None = None) -> Report:
    """The whole run on ``database_url`` (an empty, or not yet migrated, database)."""
    o = options or Options()
    log_dir = o.log_dir or Path(tempfile.mkdtemp(prefix="partnerhub-scaleout-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    o = replace(o, log_dir=log_dir)
    report = Report(log_dir=log_dir)
    cluster = Cluster(database_url, o, log_dir)
    report.figures["4 processes started together, all ready (s)"] = round(cluster.start(), 1)
    report.figures["CPU seconds the 4 processes used to start"] = cluster.cpu_seconds()
    try:
        asyncio.run(drive(cluster, report))
    finally:
        codes = cluster.stop()
    report.figures["exit codes"] = codes
    # 0, or the status of a process the signal ended (128 + its number: `partnerhub worker`
    # reports the SIGTERM it was stopped by, after a graceful stop)
    clean = {
        name: (0, 128 + (signal.SIGTERM if name.startswith("worker") else signal.SIGINT))
        for name in codes
    }
    report.check(
        all(code in clean[name] for name, code in codes.items()),
        f"processes did not stop cleanly: {codes}",
    )
    errors, excused = cluster.log_errors(database_away=bool(o.restart_command))
    report.check(not errors, "errors in the processes' logs:\n  " + "\n  ".join(errors[:40]))
    if o.restart_command:
        report.figures["log errors of the database restart (lost connections)"] = excused
    return report


def print_report(report: Report) -> None:
    for name, value in report.figures.items():
        print(f"  {name:58s} {value}")
    if report.failures:
        print(f"FAILED checks ({len(report.failures)}):")
        for failure in report.failures[:50]:
            print(f"  - {failure}")
    else:
        print("all checks passed")
    print(f"logs: {report.log_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a maintenance database of the PostgreSQL server (the scratch database is created"
        " and dropped through it)",
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--puts", type=int, default=40)
    parser.add_argument("--rate-limit", type=int, default=60, help="per token, per minute")
    parser.add_argument("--fault-latency-ms", type=int, default=50)
    parser.add_argument("--pool-size", type=int, default=3)
    parser.add_argument("--log-dir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--database-url",
        help="run on this existing, empty database (reached as given: through PgBouncer, a"
        " multi-host URL…) instead of a scratch database of --server; it is not dropped",
    )
    parser.add_argument(
        "--restart-command",
        help="command that restarts PostgreSQL (split as a shell would, run without one),"
        " run during the customer POSTs",
    )
    parser.add_argument(
        "--restart-at",
        type=float,
        default=0.4,
        help="share of the customer POSTs sent before the restart (default 0.4)",
    )
    parser.add_argument("--settle-seconds", type=float, default=300.0)
    args = parser.parse_args()
    options = Options(
        customers=args.customers,
        subscribers=args.subscribers,
        clients=args.clients,
        puts=args.puts,
        rate_limit=args.rate_limit,
        fault_latency_ms=args.fault_latency_ms,
        pool_size=args.pool_size,
        log_dir=args.log_dir,
        restart_command=args.restart_command,
        restart_at=args.restart_at,
        settle_seconds=args.settle_seconds,
    )
    if args.database_url:
        report = run(args.database_url, options)
        print_report(report)
        sys.exit(1 if report.failures else 0)
    from partnerhub.db import with_database

    name = "partnerhub_scaleout_" + secrets.token_hex(4)
    with psycopg.connect(args.server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.server, name)
    print(f"scratch database {name}")
    try:
        report = run(url, options)
    finally:
        if not args.keep:
            with psycopg.connect(args.server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print_report(report)
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
