"""OpenTelemetry (the ``otel`` extra): a real ``partnerhub serve`` with an OTLP endpoint sends
the spans of a request and of its database statements to an OTLP/HTTP
receiver on this machine; without an endpoint nothing is instrumented."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from partnerhub.config import Settings
from partnerhub.ops import tracing
from tests.conftest import _clean, free_port


class Receiver(BaseHTTPRequestHandler):
    spans: list[tuple[str, dict[str, object]]] = []  # noqa: RUF012 (the test's collector)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: a.value.string_value for a in span.attributes}
                        Receiver.spans.append((span.name, attributes))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_reach_the_otlp_endpoint(database_url: str, tmp_path: Path) -> None:
    _clean(database_url)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_DATA_DIR": str(tmp_path),
        "PARTNERHUB_ADMIN_PASSWORD": "otel-admin-pw",
        "PARTNERHUB_OTEL_ENDPOINT": f"http://127.0.0.1:{receiver.server_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", "serve", "--no-worker"],
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        listed = httpx.get(f"{url}/v1/wholesale/customers", headers={"Authorization": "Bearer x"})
        assert listed.status_code == 401  # the bearer check, on the database
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            names = [name for name, _ in Receiver.spans]
            if any("/v1/wholesale/customers" in n for n in names) and any(
                attrs.get("db.system") == "postgresql"
                or attrs.get("db.system.name") == "postgresql"
                for _, attrs in Receiver.spans
            ):
                break
            time.sleep(0.2)
        names = [name for name, _ in Receiver.spans]
        assert any("/v1/wholesale/customers" in n for n in names), names
        assert any(
            attrs.get("db.system") == "postgresql" or attrs.get("db.system.name") == "postgresql"
            for _, attrs in Receiver.spans
        ), Receiver.spans[:10]
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        receiver.shutdown()


def test_off_without_an_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.install(None, Settings(data_dir=tmp_path)) is False
    assert tracing._provider is None
