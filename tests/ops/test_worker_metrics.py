"""``partnerhub worker`` with ``PARTNERHUB_WORKER_METRICS_PORT``: its own /metrics (the same
protection, the same format, the job queues and its pools), nothing else on that port; it
stops with the worker on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import _clean, free_port

TOKEN = "worker-metrics-token-7e1d5a"


def test_worker_serves_its_metrics(database_url: str, tmp_path: Path) -> None:
    _clean(database_url)
    port = free_port()
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_DATA_DIR": str(tmp_path),
        "PARTNERHUB_WORKER_METRICS_PORT": str(port),
        "PARTNERHUB_METRICS_TOKEN": TOKEN,
        "PARTNERHUB_WORKER_NICE": "0",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", "worker"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        response = None
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        assert response is not None and response.status_code == 200, log.read_text()
        families = {f.name for f in text_string_to_metric_families(response.text)}
        assert {
            "partnerhub_job_queue_depth",
            "partnerhub_database_up",
            "partnerhub_db_pool_connections",
            "partnerhub_provisioning_outcomes",
            "partnerhub_email_deliveries",
        } <= families
        assert "partnerhub_database_up 1.0" in response.text
        refused = httpx.get(f"{url}/metrics")
        assert refused.status_code == 401
        assert httpx.get(f"{url}/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 128 + signal.SIGTERM, log.read_text()  # a clean stop by SIGTERM: 143
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"{url}/metrics", timeout=1)
        raise AssertionError("the metrics port is still open after the worker stopped")
