"""The import contracts of pyproject.toml ([tool.importlinter]) hold: kit imports no domain
package, every domain package is layered routes -> services -> repositories, models and
catalog import nothing above them, and the packages of partnerhub import each other in no
cycle (but for the commented, known ones). The same check CI runs (`lint-imports`)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lint_imports_keeps_every_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    assert {c["id"] for c in contracts} >= {"kit", "domain-layers", "models", "acyclic"}
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout
