"""Scale-out, bounded: ``scripts/scaleout.py`` with small counts on the suite's database.

Two ``partnerhub serve --no-worker`` and two ``partnerhub worker`` subprocesses start at once on
the test database (embedded, or the external server of ``PARTNERHUB_TEST_DATABASE_URL``) and
are driven through both servers: no double provisioning, idempotency keys honoured across
processes, concurrent PUTs settled once, rate-limit counters shared. The full run is
``.venv/bin/python scripts/scaleout.py`` (docs/reliability.md, "Scale-out").
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "scaleout.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("partnerhub_scaleout", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(240)
def test_two_servers_two_workers_provision_once(clean_db: str, tmp_path: Path) -> None:
    scaleout = _load()
    options = scaleout.Options(
        customers=12,
        subscribers=24,
        clients=6,
        puts=4,
        rate_limit=10,
        fault_latency_ms=50,
        pool_size=2,
        worker_concurrency=2,
        settle_seconds=90,
        log_dir=tmp_path / "scaleout",
    )
    report = scaleout.run(clean_db, options)
    scaleout.print_report(report)  # shown with -s, or when the test fails
    assert report.failures == [], "\n".join(report.failures)
    figures = report.figures
    # the checks above looked at what these figures count; the figures show they ran
    made = figures["after provisioning: customers / organizations / administrators / invitations"]
    assert made == (12, 12, 12, 12)
    assert (
        figures["replays on the other server"] + figures["keys sent to both servers at once"] == 12
    )
    assert figures["subscribers in the database"] == 24 + figures["extensions raced across servers"]
    assert figures["rate limit: requests / 200 / 429 (limit per token)"] == (20, 10, 10, 10)
    assert len(figures["provisioning jobs per worker"]) == 2
    served = figures["requests per server"]
    assert min(served) > 0
