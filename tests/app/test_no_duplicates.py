"""No block of six or more lines is repeated in ``src/partnerhub`` outside the migrations
(``scripts/check_duplicates.py``; docs/development.md, "No repeated code")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "check_duplicates.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), *args], capture_output=True, text=True, timeout=120
    )


def test_src_repeats_no_block_of_six_lines() -> None:
    result = run(str(ROOT / "src" / "partnerhub"))
    assert result.stdout == "", "repeated blocks:\n" + result.stdout
    assert result.returncode == 0


BLOCK = """\
    total = 0
    for item in items:
        if item.active:
            total += item.price * item.count
    total = round(total, 2)
    log.info("total %s", total)
    return total
"""


def test_the_checker_finds_a_repeated_block(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(f"def a(items):\n{BLOCK}", encoding="utf-8")
    (tmp_path / "b.py").write_text(f"x = 1\n\n\ndef b(items):\n{BLOCK}", encoding="utf-8")
    result = run(str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.strip() == f"{tmp_path}/a.py:2-8 ~ {tmp_path}/b.py:5-11"


def test_five_shared_lines_and_signatures_are_not_a_block(tmp_path: Path) -> None:
    five = "\n".join(BLOCK.splitlines()[:5]) + "\n"
    signature = "def {}(\n    request,\n    response,\n    principal,\n    page,\n    offset,\n):\n"
    (tmp_path / "a.py").write_text(signature.format("a") + five, encoding="utf-8")
    (tmp_path / "b.py").write_text(signature.format("b") + five, encoding="utf-8")
    result = run(str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "")


def test_migrations_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "a.py").write_text(f"def a(items):\n{BLOCK}", encoding="utf-8")
    (tmp_path / "b.py").write_text(f"def b(items):\n{BLOCK}", encoding="utf-8")
    assert run(str(tmp_path)).returncode == 0
