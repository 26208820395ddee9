"""Prometheus metrics (docs/deployment.md, "Metrics").

Every process keeps its own counters in ``prometheus_client``'s default registry and shows
them at ``/metrics``: ``serve`` on its HTTP port, ``partnerhub worker`` on
``PARTNERHUB_WORKER_METRICS_PORT``. What the database knows (the job queues) is read when
Prometheus scrapes, with one cheap statement, so every process reports the same queue figures.

Request metrics are taken by :class:`Observe`, the outermost ASGI layer: it sees every request
and labels it with the route's template
(``/v1/wholesale/customers/{customerId}``), never the raw path, so the number of series stays
bounded.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from partnerhub import __version__
from partnerhub.config import Settings
from partnerhub.errors import error_body
from partnerhub.ops import logs

log = logging.getLogger(__name__)

PATH = "/metrics"
# Prometheus's text format 0.0.4: what every Prometheus version (and other scrapers) reads.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Any other method a client invents is counted as "other" (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats(Collector):
    """Request counts and latency histograms, by ``(method, route template, status)``.

    Kept in plain lists rather than ``prometheus_client``'s Counter and Histogram, whose
    every update takes a lock: requests are recorded on the event loop's thread only (as are
    scrapes), so a request costs one dictionary look-up, one bisection and three additions.
    Exposed as ``partnerhub_http_requests_total`` and
    ``partnerhub_http_request_duration_seconds``.
    """

    def __init__(self) -> None:
        # key -> [sum of seconds, count in bucket 0, ..., count above the last bucket]
        self.series: dict[tuple[str, str, int], list[float]] = {}

    def record(self, key: tuple[str, str, int], seconds: float) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(BUCKETS) + 2)
        series[0] += seconds
        series[bisect_left(BUCKETS, seconds) + 1] += 1

    def collect(self) -> Iterator[Any]:
        labels = ["method", "route", "status"]
        requests = CounterMetricFamily(
            "partnerhub_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=labels,
        )
        latency = HistogramMetricFamily(
            "partnerhub_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method, route "
            "template and status.",
            labels=labels,
        )
        for (method, route, status), series in list(self.series.items()):
            values = [method, route, str(status)]
            buckets, running = [], 0.0
            for bound, count in zip((*BUCKETS, float("inf")), series[1:], strict=True):
                running += count
                buckets.append((floatToGoString(bound), running))
            requests.add_metric(values, running)
            latency.add_metric(values, buckets, series[0])
        yield requests
        yield latency

    def describe(self) -> Iterable[Any]:
        return []


REQUEST_STATS = RequestStats()
REGISTRY.register(REQUEST_STATS)
PROVISIONING = Counter(
    "partnerhub_provisioning_outcomes",
    "Customer provisioning jobs by operation (provision, delete) and outcome (provisioned, "
    "provisioned_with_errors, error, deleted, retry).",
    ["operation", "outcome"],
)
EMAILS = Counter(
    "partnerhub_email_deliveries",
    "Email delivery attempts by kind and outcome (sent, retry, failed, stored).",
    ["kind", "outcome"],
)
IMPORT_ROWS = Counter(
    "partnerhub_import_rows",
    "Rows of bulk subscriber imports by outcome (created, existing, rejected).",
    ["outcome"],
)
IMPORTS = Counter(
    "partnerhub_imports",
    "Bulk subscriber imports finished, by status (succeeded, failed).",
    ["status"],
)
INFO = Gauge("partnerhub_info", "Always 1; the running version as a label.", ["version"])
INFO.labels(__version__).set(1)


def provisioning(operation: str, outcome: str) -> None:
    PROVISIONING.labels(operation, outcome).inc()


def email(kind: str, outcome: str) -> None:
    EMAILS.labels(kind, outcome).inc()


def imported(status: str, created: int = 0, existing: int = 0, rejected: int = 0) -> None:
    IMPORTS.labels(status).inc()
    for outcome, rows in (("created", created), ("existing", existing), ("rejected", rejected)):
        if rows:
            IMPORT_ROWS.labels(outcome).inc(rows)


# --- read at scrape time --------------------------------------------------------------------

# The depth of every queue (jobs to do and jobs running) and the age of its oldest runnable
# job: the counts use procrastinate's partial index on todo/doing jobs, the age looks up one
# job per queue (the lowest id is the earliest deferred).
QUEUES_SQL = """
WITH q AS (
    SELECT queue_name, status, count(*) AS n,
           min(id) FILTER (WHERE status = 'todo'
                           AND (scheduled_at IS NULL OR scheduled_at <= now())) AS oldest
    FROM procrastinate_jobs
    WHERE status IN ('todo', 'doing')
    GROUP BY queue_name, status
)
SELECT q.queue_name, q.status::text, q.n,
       (SELECT extract(epoch FROM now() - coalesce(j.scheduled_at,
                   (SELECT min(e.at) FROM procrastinate_events e
                    WHERE e.job_id = j.id AND e.type = 'deferred')))
        FROM procrastinate_jobs j WHERE j.id = q.oldest)::float8
FROM q
"""
QUEUE_TIMEOUT = 2.0  # seconds: a scrape never waits longer for the database


class Snapshot(Collector):
    """The figures read just before a scrape (:func:`refresh`), handed to the registry."""

    def __init__(self) -> None:
        self.families: list[Any] = []

    def collect(self) -> Iterator[Any]:
        yield from self.families

    def describe(self) -> Iterable[Any]:
        return []


SNAPSHOT = Snapshot()
REGISTRY.register(SNAPSHOT)


def _pools() -> list[tuple[str, int, int, int | None, int]]:
    """``(pool, in use, idle, waiting or None, max)`` of this process's database pools."""
    from partnerhub import jobs, runtime

    found: list[tuple[str, int, int, int | None, int]] = []
    try:
        db = runtime.database()
    except RuntimeError:
        db = None
    if db is not None:
        pool: Any = db.engine.pool
        with_overflow = pool.size() + max(0, getattr(pool, "_max_overflow", 0))
        found.append(("orm", pool.checkedout(), pool.checkedin(), None, with_overflow))
        if db._direct_open:
            found.append(("direct", *_psycopg(db.direct)))
    if jobs._pool is not None:
        found.append(("jobs", *_psycopg(jobs._pool)))
    return found


def _psycopg(pool: Any) -> tuple[int, int, int, int]:
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return size - idle, idle, stats.get("requests_waiting", 0), pool.max_size


async def _queues() -> list[tuple[str, str, int, float | None]] | None:
    from partnerhub import runtime

    try:
        pool = await runtime.database().autocommit()
        async with pool.connection(timeout=QUEUE_TIMEOUT) as conn:
            await conn.execute(f"SET statement_timeout = {int(QUEUE_TIMEOUT * 1000)}")
            try:
                rows = await (await conn.execute(QUEUES_SQL)).fetchall()
            finally:
                await conn.execute("RESET statement_timeout")
    except Exception as exc:  # the database is away: say so, and the rest still shows
        log.warning("metrics: could not read the job queues (%s)", exc.__class__.__name__)
        return None
    return [(r[0], r[1], int(r[2]), r[3]) for r in rows]


async def refresh() -> None:
    """Read the pools and the queues for the scrape that follows."""
    families: list[Any] = []
    in_use = GaugeMetricFamily(
        "partnerhub_db_pool_connections",
        "Database connections of this process's pools (orm, direct, jobs), by state.",
        labels=["pool", "state"],
    )
    waiting = GaugeMetricFamily(
        "partnerhub_db_pool_waiting",
        "Requests waiting for a connection of a pool (driver pools only).",
        labels=["pool"],
    )
    size = GaugeMetricFamily(
        "partnerhub_db_pool_max_connections",
        "Most connections a pool opens (the ORM pool: with its overflow).",
        labels=["pool"],
    )
    for name, used, idle, wait, most in _pools():
        in_use.add_metric([name, "in_use"], used)
        in_use.add_metric([name, "idle"], idle)
        size.add_metric([name], most)
        if wait is not None:
            waiting.add_metric([name], wait)
    families += [in_use, waiting, size]
    up = GaugeMetricFamily(
        "partnerhub_database_up", "1 when the scrape could read the database, else 0."
    )
    depth = GaugeMetricFamily(
        "partnerhub_job_queue_depth",
        "Jobs waiting (todo) and running (doing) per queue; database-wide, the same in every "
        "process.",
        labels=["queue", "status"],
    )
    age = GaugeMetricFamily(
        "partnerhub_job_queue_oldest_age_seconds",
        "Age of the oldest job that could run now but has not started, per queue (0 = none).",
        labels=["queue"],
    )
    queues = await _queues()
    up.add_metric([], 0 if queues is None else 1)
    oldest: dict[str, float] = {}
    for queue, status, n, seconds in queues or []:
        depth.add_metric([queue, status], n)
        oldest.setdefault(queue, 0.0)
        if status == "todo" and seconds is not None:
            oldest[queue] = max(0.0, seconds)
    for queue, seconds in sorted(oldest.items()):
        age.add_metric([queue], seconds)
    families += [up, depth, age]
    SNAPSHOT.families = families


# --- access ---------------------------------------------------------------------------------


class Access:
    """Who may read /metrics: the bearer token from anywhere, the listed networks without."""

    def __init__(self, settings: Settings) -> None:
        self.token = (settings.metrics_token or "").encode()
        self.networks = [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in settings.metrics_addresses.split(",")
            if part.strip()
        ]

    def allows(self, scope: Scope) -> tuple[bool, int]:
        """``(allowed, status to answer otherwise)``: 401 without the right token, 403 for
        an address outside the networks when no token is configured."""
        if self.token:
            for key, value in scope.get("headers") or []:
                if key == b"authorization":
                    scheme, _, given = value.partition(b" ")
                    if scheme.lower() == b"bearer" and hmac.compare_digest(
                        given.strip(), self.token
                    ):
                        return True, 200
        client = scope.get("client")
        if client and self.networks:
            try:
                address = ipaddress.ip_address(client[0])
            except ValueError:
                address = None
            if address is not None and any(address in net for net in self.networks):
                return True, 200
        return False, 401 if self.token else 403


class MetricsEndpoint:
    """Pure ASGI: answers ``GET /metrics`` (and 404 for any other path when it is the whole
    app, as under ``partnerhub worker``)."""

    def __init__(self, settings: Settings) -> None:
        self.access = Access(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        state = scope.get("state") or {}
        tid = str(state.get("tracking_id") or "")
        if scope["path"] != PATH:
            await _answer(send, 404, _error("The requested resource was not found", 1100, tid))
            return
        allowed, status = self.access.allows(scope)
        if not allowed:
            headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            message = (
                "A valid bearer token is required for /metrics"
                if status == 401
                else "This address may not read /metrics"
            )
            code = 1500 if status == 401 else 1300
            await _answer(send, status, _error(message, code, tid), headers=headers)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, _error("Method not allowed on /metrics", 1402, tid))
            return
        await refresh()
        body = generate_latest(REGISTRY)
        await _answer(send, 200, body, CONTENT_TYPE)


def _error(description: str, code: int, tid: str) -> bytes:
    return json.dumps(error_body([(description, code)], tid)).encode()


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- the outermost layer --------------------------------------------------------------------


class Observe:
    """Pure ASGI, outermost: the request's log context (ops.logs), its count and latency by
    route template and status, and ``/metrics`` itself.

    The template comes from the route FastAPI matched (``scope["route"]``), read after the
    response, so this costs two clock readings and a few additions.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
    ) -> None:
        self.app = app
        self.metrics = settings.metrics_enabled()
        self.endpoint = MetricsEndpoint(settings) if self.metrics else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = logs.REQUEST.set(scope)
        if self.endpoint is None:  # JSON logs only
            try:
                await self.app(scope, receive, send)
            finally:
                logs.REQUEST.reset(token)
            return
        if scope["path"] == PATH:
            try:
                await self.endpoint(scope, receive, send)
            finally:
                logs.REQUEST.reset(token)
            return
        status = 500  # unless a response starts
        began = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"]
            REQUEST_STATS.record(
                (method if method in METHODS else "other", logs.route_of(scope), status),
                time.perf_counter() - began,
            )
            logs.REQUEST.reset(token)


def worker_metrics_server(settings: Settings) -> Any:
    """A uvicorn server for ``partnerhub worker``'s /metrics on
    ``PARTNERHUB_WORKER_METRICS_PORT``: run ``serve()`` as a task; set ``should_exit`` to stop
    it. It leaves the signals to the worker."""
    import contextlib

    import uvicorn

    assert settings.worker_metrics_port is not None
    config = uvicorn.Config(
        MetricsEndpoint(settings),
        host=settings.host,
        port=settings.worker_metrics_port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server
