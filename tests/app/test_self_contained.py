"""The repository is self-contained: a clone in any folder, with nothing beside it, runs.

Nothing the service, the tests, the benchmarks, the scripts or CI run may read a sibling
folder (the project's old shared folder beside the clone); the vendor's OpenAPI file is
vendored in ``specs/`` and the docs link to files inside the repository. Plain file checks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE_FOLDERS = ("src", "tests", "bench", "scripts", ".ci")
LAUNCHERS = ("partnerhub", "run-tests")
SUFFIXES = {".py", ".sh", ".toml", ".ini", ".cfg", ".txt", ".json", ".yaml", ".yml", ""}
# Built from pieces so that this file does not match itself.
SIBLING = "../" + "shared"
PARENTS_SHARED = re.compile(r"parents\[\d+\]\s*/\s*['\"]" + "shared" + r"['\"]")
PARENT_SHARED = re.compile(r"\.parent\s*/\s*['\"]" + "shared" + r"['\"]")


def _code_files() -> list[Path]:
    files = [ROOT / name for name in LAUNCHERS]
    for folder in CODE_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or ".egg-info" in str(path):
                continue
            if path.suffix in SUFFIXES:
                files.append(path)
    return files


def test_nothing_reads_a_sibling_shared_folder() -> None:
    offenders = []
    for path in _code_files():
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if SIBLING in line or PARENTS_SHARED.search(line) or PARENT_SHARED.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "reads outside the repository:\n" + "\n".join(offenders)


def test_the_scan_catches_a_sibling_read(tmp_path: Path) -> None:
    # The patterns above do match the forms the suite used to have.
    old = 'SPEC = Path(__file__).resolve().parents[3] / "' + 'shared" / "specs" / "x.json"'
    assert PARENTS_SHARED.search(old)
    assert SIBLING in "see " + SIBLING + "/specs/README.md"


def test_the_vendor_spec_is_vendored_with_its_attribution() -> None:
    spec = json.loads((ROOT / "specs" / "webex-wholesale.json").read_text())
    assert spec["openapi"] == "3.0.0"
    wholesale = [
        (path, method)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        and {"Wholesale Provisioning", "Wholesale Billing Reports"} & set(operation.get("tags", []))
    ]
    assert len(wholesale) == 18
    attribution = (ROOT / "specs" / "README.md").read_text()
    assert "CC BY 4.0" in attribution and "Cisco" in attribution


def test_docs_link_only_to_files_inside_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "specs/README.md"]
    broken = []
    for page in pages:
        text = page.read_text()
        if SIBLING in text:
            broken.append(f"{page.relative_to(ROOT)} mentions {SIBLING}")
        for match in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = match.group(1)
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (page.parent / target.split("#")[0]).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == [], "\n".join(broken)
    assert (ROOT / "docs" / "contract.md").is_file()
    assert (ROOT / "docs" / "architecture.md").is_file()
