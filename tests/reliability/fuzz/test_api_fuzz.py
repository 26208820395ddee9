"""API fuzzing in the suite (issue 6, item 1): schemathesis over every operation of the
vendor's published spec and every hub-only operation of PartnerHub's ``/openapi.json``, on a
real ``partnerhub serve``, with a bounded number of examples. Checks (see ``engine.py``): no
5xx, status code / content type / headers / body conform to the documented responses, every
error body in the contract's shape. ``bench/fuzz.py`` runs the same with many more examples.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from tests.conftest import LiveServer
from tests.factories import Tenant
from tests.reliability.fuzz import engine

POSITIVE = 3  # schema-valid cases per operation (modes mixed); about 200 cases in all
NEGATIVE = 1  # schema-invalid cases per operation (several times slower to generate)


def _report(stats: engine.Stats) -> str:
    lines = [stats.summary()]
    for failure in stats.failures[:10]:
        lines += [f"--- {failure.operation} [{failure.status}]", failure.message[:1500]]
        lines.append(f"reproduce: {failure.curl[:1500]}")
    return "\n".join(lines)


async def _drain(db: Database, within: float = 120.0) -> None:
    """Wait until the live server's worker has no job left of those the fuzzed requests queue
    (the POSTs, PUTs and DELETEs of customers queue some): later tests truncate the tables it
    writes. On a loaded machine a provisioning job can take tens of seconds; what is still
    pending at the deadline is named (task, status, attempts, when it is due)."""
    deadline = time.monotonic() + within
    pending: list[Any] = []
    while time.monotonic() < deadline:
        async with db.transaction() as session:
            pending = list(
                (
                    await session.execute(
                        text(
                            "SELECT task_name, status, attempts, scheduled_at"
                            " FROM procrastinate_jobs"
                            " WHERE status IN ('todo', 'doing')"
                            # not the server's periodic housekeeping (it queues its own jobs
                            # on its own schedule, whatever the fuzz does)
                            " AND queue_name <> 'housekeeping'"
                        )
                    )
                ).all()
            )
        if not pending:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(pending)} jobs still pending after {within} s: {pending}")


async def test_every_operation_conforms_under_fuzzing(
    live_server: LiveServer, tenant: Tenant, db: Database
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    seed = await asyncio.to_thread(engine.seed, live_server.url, token)

    stats = await asyncio.to_thread(
        engine.fuzz, live_server.url, token, seed, POSITIVE, negative_examples=NEGATIVE
    )

    await _drain(db)
    assert not stats.failures, _report(stats)
    # Every operation of both documents was exercised...
    async with httpx.AsyncClient() as http:
        hub = (await http.get(f"{live_server.url}/openapi.json")).json()["paths"]
    expected = engine.vendor_operations() | {
        (method.upper(), path) for path, item in engine.hub_only(hub).items() for method in item
    }
    exercised = {tuple(name.split(" ", 1)) for name in stats.by_operation}
    assert expected <= exercised, sorted(expected - exercised)
    # ...and the seed let the cases reach real code: most operations succeeded at least once.
    succeeded = {
        name
        for name, statuses in stats.statuses_by_operation.items()
        if any(200 <= status < 300 for status in statuses)
    }
    assert len(succeeded) >= len(expected) // 2, sorted(set(stats.by_operation) - succeeded)


def test_a_request_the_http_parser_refuses_gets_the_contract_error(
    live_server: LiveServer,
) -> None:
    """Defect found by fuzzing: a control character in a header value made uvicorn answer
    400 ``text/plain`` "Invalid HTTP request received." (CONTRACT: errors are always the
    JSON error body with a TrackingID)."""
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(b"GET /v1/wholesale/customers HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n")
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 400"), lines[0]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/json"
    body = json.loads(payload)
    assert set(body) == {"message", "errors", "trackingId"}
    assert body["errors"][0]["errorCode"] == 1001
    assert body["trackingId"] == headers["trackingid"]
