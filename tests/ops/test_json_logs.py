"""A real ``partnerhub serve`` with ``PARTNERHUB_LOG_FORMAT=json``: every line it writes is
one JSON object (time, level, logger, message); a line logged while a request is answered
carries that request's TrackingID, its route template and, once the caller is known, the
partner; a link's secret is still redacted; /metrics answers on the same server and counts
the requests it has served."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import _clean, free_port

METRICS_TOKEN = "json-logs-metrics-token-51c2"


@pytest.fixture(scope="module")
def json_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path, dict[str, str]]]:
    _clean(database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("jsonlog") / "serve.log"
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "PARTNERHUB_ADMIN_PASSWORD": "json-logs-admin-pw",
        "PARTNERHUB_LOG_LEVEL": "debug",  # the access log too
        "PARTNERHUB_LOG_FORMAT": "json",
        "PARTNERHUB_METRICS_TOKEN": METRICS_TOKEN,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.2)
        yield url, process, log, env
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def api_token(env: dict[str, str]) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "partnerhub",
            "token",
            "create",
            "--scope",
            "spark-admin:wholesale_customers_read",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def lines_of(log: Path) -> list[dict[str, Any]]:
    parsed = []
    for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line[:300]}") from None
    return parsed


def test_every_line_is_json_with_the_request_context(
    json_server: tuple[str, subprocess.Popen[bytes], Path, dict[str, str]], database_url: str
) -> None:
    url, process, log, env = json_server
    token = api_token(env)
    with psycopg.connect(database_url) as conn:
        partner_id = str(conn.execute("SELECT id FROM partners").fetchone()[0])  # type: ignore[index]
    listed = httpx.get(
        f"{url}/v1/wholesale/customers",
        headers={"Authorization": f"Bearer {token}", "TrackingID": "ops-json-fast-1"},
    )
    assert listed.status_code == 200, listed.text
    missing = httpx.get(
        f"{url}/v1/wholesale/customers/nope",
        headers={"Authorization": f"Bearer {token}", "TrackingID": "ops-json-route-2"},
    )
    assert missing.status_code == 404
    secret_link = httpx.get(
        f"{url}/account/set-password/sEcReT-link-token-77", headers={"TrackingID": "ops-json-3"}
    )
    assert secret_link.status_code in (200, 400, 404)
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    served = [
        s
        for s in families["partnerhub_http_requests"].samples
        if s.labels == {"method": "GET", "route": "/v1/wholesale/customers", "status": "200"}
    ]
    assert served and served[0].value >= 1
    assert httpx.get(f"{url}/metrics").status_code == 401

    process.terminate()  # flush everything it had to say
    process.wait(15)
    lines = lines_of(log)
    assert lines, "no output"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
        assert line["time"].endswith("+00:00")
    serving = [line for line in lines if "PartnerHub serving on" in line["message"]]
    assert serving, "the start message is a JSON line too"

    def by_tracking(tid: str) -> list[dict[str, Any]]:
        return [line for line in lines if line.get("trackingId") == tid]

    fast = by_tracking("ops-json-fast-1")
    assert fast, "no line of the fast-lane request"
    access = [line for line in fast if line["logger"] == "uvicorn.access"]
    assert access and "/v1/wholesale/customers" in access[0]["message"]
    assert all(line["route"] == "/v1/wholesale/customers" for line in fast)
    assert all(line["partnerId"] == partner_id for line in fast)
    assert all(line["method"] == "GET" for line in fast)

    routed = by_tracking("ops-json-route-2")
    assert routed
    assert all(line["route"] == "/v1/wholesale/customers/{customer_id}" for line in routed)
    assert all(line["partnerId"] == partner_id for line in routed)

    linked = by_tracking("ops-json-3")
    assert linked
    assert "/account/set-password/[redacted]" in linked[0]["message"]
    assert "sEcReT-link-token-77" not in log.read_text()
    # lines outside any request carry no request fields
    assert all("trackingId" not in line for line in serving)
