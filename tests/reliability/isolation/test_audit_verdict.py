"""scripts/audit_deps.py: how CI reads pip-audit's report (no network: the reports are made up
in pip-audit's JSON shape)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "audit_deps.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_known_vulnerability_fails_the_build() -> None:
    report = {
        "dependencies": [
            {"name": "fastapi", "version": "0.1", "vulns": []},
            {
                "name": "jinja2",
                "version": "2.0",
                "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["3.1.4"], "aliases": []}],
            },
            {"name": "partnerhub", "skip_reason": "editable"},
        ]
    }
    status, summary = _module().verdict(report)
    assert status == 1
    assert "jinja2 2.0: PYSEC-0000-1 (fixed in 3.1.4)" in summary
    assert "2 packages audited, 1 skipped" in summary


def test_a_clean_report_passes() -> None:
    report = {"dependencies": [{"name": "fastapi", "version": "0.1", "vulns": []}]}
    assert _module().verdict(report) == (
        0,
        "no known vulnerabilities\n1 packages audited, 0 skipped",
    )


def test_a_service_that_could_look_nothing_up_is_a_notice_not_a_pass() -> None:
    reason = "Dependency not found on PyPI and could not be audited: alembic (1.20.1)"
    report = {"dependencies": [{"name": "alembic", "skip_reason": reason}]}
    status, summary = _module().verdict(report)
    assert status == 0 and summary.startswith("NOTICE") and "audit not done" in summary
