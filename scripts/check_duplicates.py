"""Repeated blocks of code: every run of six or more lines that stands in two places.

Usage: ``python scripts/check_duplicates.py [ROOT ...] [--min-lines N] [--exclude PART ...]``
(default: ``src/partnerhub``, six lines, ``migrations`` excluded). Prints one line a repeated
block (``a.py:10-15 ~ b.py:40-45``) and exits 1 when there is any, 0 otherwise.

What counts is the text of Python files and Jinja templates (``.py``, ``.html``), compared
line by line after folding white space; blank lines, comments, lone punctuation, import lines
and the parameter lists of function signatures (FastAPI's dependency injection repeats
``request: Request, principal: Principal = Depends(...)`` by design) are passed over. A
repeated block is a run of ``N`` such lines that appears, to the letter, in two places that do
not overlap. Blocks of the same shape with other names are not reported (the routes' idiom:
parse, open the transaction, call one service function, present).
``tests/app/test_no_duplicates.py`` runs this over ``src/partnerhub`` in the suite.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".py", ".html")
_PUNCTUATION = re.compile(r"^[\s()\[\]{},:;]*$")
_IMPORT = re.compile(r"^(from\s+\S+\s+import\b|import\s+\S)")
_TEMPLATE_PUNCTUATION = re.compile(r"^(\{%-?\s*(end\w+|else)\s*-?%\}|</?\w+>)$")


@dataclass(frozen=True)
class Line:
    number: int
    text: str


def signature_lines(source: str) -> set[int]:
    """The line numbers of the parameter lists of every function (after the ``def`` line, up
    to the first line of its body)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.update(range(node.lineno + 1, node.body[0].lineno))
    return lines


def significant_lines(path: Path) -> list[Line]:
    """The lines that count, each folded to single spaces, with its line number."""
    out: list[Line] = []
    in_import = False
    source = path.read_text(encoding="utf-8")
    skipped = signature_lines(source) if path.suffix == ".py" else set()
    for number, raw in enumerate(source.splitlines(), start=1):
        if number in skipped:
            continue
        text = " ".join(raw.split())
        if in_import:  # the rest of a parenthesized import
            in_import = ")" not in text
            continue
        if not text or _PUNCTUATION.match(text):
            continue
        if path.suffix == ".py" and (text.startswith("#") or _IMPORT.match(text)):
            in_import = text.endswith("(")
            continue
        if path.suffix == ".html" and (text.startswith("{#") or _TEMPLATE_PUNCTUATION.match(text)):
            continue
        out.append(Line(number, text))
    return out


def files_under(roots: list[Path], excluded: set[str]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and not excluded & set(path.parts):
                found.append(path)
    return found


def repeated_blocks(paths: list[Path], min_lines: int = 6) -> list[str]:
    """``a:10-15 ~ b:40-45`` for each repeated block (the longest run of each pair of
    places, once)."""
    lines = {path: significant_lines(path) for path in paths}
    places: dict[tuple[str, ...], list[tuple[Path, int]]] = defaultdict(list)
    for path, content in lines.items():
        for i in range(len(content) - min_lines + 1):
            key = tuple(line.text for line in content[i : i + min_lines])
            places[key].append((path, i))
    pairs: set[tuple[Path, int, Path, int]] = set()
    for spots in places.values():
        for a in range(len(spots)):
            for b in range(a + 1, len(spots)):
                (pa, ia), (pb, ib) = spots[a], spots[b]
                if pa == pb and abs(ia - ib) < min_lines:
                    continue  # a run overlapping itself (the same line repeated)
                pairs.add((pa, ia, pb, ib))
    reports: list[str] = []
    for pa, ia, pb, ib in sorted(pairs, key=lambda p: (str(p[0]), p[1], str(p[2]), p[3])):
        if (pa, ia - 1, pb, ib - 1) in pairs:
            continue  # inside a longer run already reported from its start
        length = min_lines
        while (pa, ia + length - min_lines + 1, pb, ib + length - min_lines + 1) in pairs:
            length += 1
        first, second = lines[pa], lines[pb]
        reports.append(
            f"{pa}:{first[ia].number}-{first[ia + length - 1].number} ~ "
            f"{pb}:{second[ib].number}-{second[ib + length - 1].number}"
        )
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", type=Path, default=[Path("src/partnerhub")])
    parser.add_argument("--min-lines", type=int, default=6)
    parser.add_argument("--exclude", nargs="*", default=["migrations"])
    args = parser.parse_args(argv)
    reports = repeated_blocks(files_under(args.roots, set(args.exclude)), args.min_lines)
    for line in reports:
        print(line)
    print(f"{len(reports)} repeated blocks of {args.min_lines} or more lines", file=sys.stderr)
    return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main())
