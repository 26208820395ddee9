"""The deployment files: the compose file names its services (two servers without a worker,
one worker, PostgreSQL, PgBouncer in transaction mode) and only settings that exist; the
Dockerfile runs `partnerhub serve` as a non-root user with the data directory a volume; every
metric the Grafana dashboard and the alert rules use is one /metrics exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from partnerhub.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOKEN = "deploy-test-metrics-token-99"
# Settings of the PgBouncer/HA work (issue 14, item 6), merged from its own branch.
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, admin_password="unused", metrics_token=TOKEN)


def test_compose_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "pgbouncer", "serve-1", "serve-2", "worker"}
    for name in ("serve-1", "serve-2"):
        assert services[name]["command"] == ["serve", "--no-worker"]
    assert services["worker"]["command"] == ["worker"]
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    for name in ("serve-1", "serve-2", "worker"):
        env = services[name]["environment"]
        assert "@pgbouncer:" in env["PARTNERHUB_DATABASE_URL"]
        assert env["PARTNERHUB_DATABASE_PREPARED_STATEMENTS"] == "false"
        assert env["PARTNERHUB_LOG_FORMAT"] == "json"
        known = {f"PARTNERHUB_{field.upper()}" for field in Settings.model_fields}
        unknown = {key for key in env if key.startswith("PARTNERHUB_")} - known
        assert not unknown, unknown
    assert services["worker"]["environment"]["PARTNERHUB_WORKER_METRICS_PORT"] == "9100"
    example = (DEPLOY / "example.env").read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", (DEPLOY / "compose.yaml").read_text()))
    assert needed <= set(re.findall(r"^(\w+)=", example, re.M)), needed


def test_dockerfile_runs_serve_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert [line for line in lines if line.startswith("FROM ")][-1].startswith("FROM python:")
    assert all("-slim" in line for line in lines if line.startswith("FROM "))
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert re.search(rf"useradd .*{users[-1]}", text)
    assert 'VOLUME ["/data"]' in text
    assert "PARTNERHUB_DATA_DIR=/data" in text
    assert 'ENTRYPOINT ["partnerhub"]' in text and 'CMD ["serve"]' in text
    assert "apt-get" not in text.split("USER ")[-1]  # nothing installed at run time


def names_in(text: str) -> set[str]:
    names = set(re.findall(r"\b(?:partnerhub|process)_[a-z0-9_]+\b", text))
    return names | ({"up"} if re.search(r"\bup\s*[{\[]", text) else set())


async def test_dashboard_and_alerts_use_exposed_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200  # a request, so series exist
    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    exposed: set[str] = set(PROMETHEUS_OWN)
    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_count", "_sum"]}
    for family in text_string_to_metric_families(scraped.text):
        exposed.add(family.name)
        exposed.update(family.name + s for s in suffixes.get(family.type, []))
        exposed.update(sample.name for sample in family.samples)

    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    expressions += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    alerts = yaml.safe_load((DEPLOY / "alerts.yaml").read_text())
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    assert all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    expressions += [rule["expr"] for rule in rules]

    used = set().union(*(names_in(e) for e in expressions))
    assert {
        "partnerhub_http_requests_total",
        "partnerhub_http_request_duration_seconds_bucket",
        "partnerhub_db_pool_connections",
        "partnerhub_job_queue_depth",
        "partnerhub_job_queue_oldest_age_seconds",
        "partnerhub_provisioning_outcomes_total",
        "partnerhub_email_deliveries_total",
        "partnerhub_info",
        "up",
    } <= used
    assert used - exposed == set(), f"not exposed by /metrics: {sorted(used - exposed)}"
