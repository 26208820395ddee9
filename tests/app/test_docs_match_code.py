"""The docs name what the code has: settings and their defaults, commands and their options,
API paths, migrations and files. Reviewers try what README.md and docs/*.md say; a setting,
command or route added without its line in the docs (or renamed under it) fails here.

Plain reads of the docs against the code's own lists (``Settings.model_fields``, the Typer
app, the app's OpenAPI document, ``migrations/versions``); no server, no database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from partnerhub.cli import app as cli_app
from partnerhub.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETTINGS_PAGE = ROOT / "docs" / "configuration.md"
# Environment variables the docs name that are not settings: read by the test suite itself.
TEST_VARIABLES = {
    "PARTNERHUB_TEST_DATABASE_URL",  # tests/conftest.py
    "PARTNERHUB_CHROMIUM",  # tests/e2e/conftest.py
    "PARTNERHUB_EVENTS_CRASH_CUSTOMERS",  # tests/events/test_crash.py
    "PARTNERHUB_EVENTS_CRASH_SUBSCRIBERS",
}
# `partnerhub init` is named only as the design that was not chosen (configuration.md).
NOT_COMMANDS = {"init"}


def _docs() -> str:
    return "\n".join(page.read_text() for page in PAGES)


def _settings_rows() -> dict[str, str]:
    """``PARTNERHUB_X`` -> its default cell, from the "All settings" table."""
    rows = {}
    for line in SETTINGS_PAGE.read_text().splitlines():
        if match := re.match(r"\| `(PARTNERHUB_\w+)` \| (.*?) \| ", line):
            rows[match.group(1)] = match.group(2)
    return rows


def _documented_default(value: object) -> set[str]:
    if value == "":
        return {"empty"}
    if isinstance(value, bool):
        return {f"`{str(value).lower()}`"}
    if isinstance(value, float) and value.is_integer():
        return {f"`{int(value)}`", f"`{value}`"}
    return {f"`{value}`"}


def test_every_setting_has_one_row_with_the_code_default() -> None:
    rows = _settings_rows()
    fields = {f"PARTNERHUB_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert sorted(set(fields) - set(rows)) == [], "settings missing from docs/configuration.md"
    assert sorted(set(rows) - set(fields)) == [], "rows of docs/configuration.md of no setting"
    wrong = []
    for name, field in fields.items():
        # None (unset) and computed defaults are described in words (`http://HOST:PORT`, ...)
        if field.default_factory is not None or field.default is None:
            continue
        if rows[name] not in _documented_default(field.default):
            wrong.append(f"{name}: docs {rows[name]}, code {field.default!r}")
    assert wrong == []


def test_every_variable_the_docs_name_exists() -> None:
    settings = {f"PARTNERHUB_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"PARTNERHUB_[A-Z0-9_]*[A-Z0-9]", _docs()))
    assert sorted(named - settings - TEST_VARIABLES) == []
    suite = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("*.py"))
    assert [name for name in sorted(TEST_VARIABLES) if f'"{name}"' not in suite] == []


def _commands() -> dict[str, Any]:
    """Every command of ``partnerhub``, by its full name (``audit purge``): Typer's click
    commands (its own copy of click, hence duck-typed)."""
    found: dict[str, Any] = {}

    def walk(command: Any, prefix: str) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found[prefix] = command

    walk(typer.main.get_command(cli_app), "")
    return found


def test_every_command_is_in_the_readme_and_every_option_in_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    docs = _docs()
    missing = []
    for name, command in _commands().items():
        if f"partnerhub {name}" not in readme:
            missing.append(f"partnerhub {name} (README.md, Commands)")
        for parameter in command.params:
            if parameter.param_type_name == "option":
                for option in parameter.opts:
                    if option == "--help" or not option.startswith("--"):
                        continue
                    if not re.search(re.escape(option) + r"(?![\w-])", docs):
                        missing.append(f"partnerhub {name} {option}")
    assert missing == [], "not in the docs:\n" + "\n".join(missing)


def test_every_command_the_docs_name_exists() -> None:
    commands = set(_commands())
    groups = {name.split()[0] for name in commands}
    unknown = set()
    for first, second in re.findall(
        r"(?<![\w./-])partnerhub ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", _docs()
    ):
        if first in NOT_COMMANDS:
            continue
        if first in commands:
            continue
        if first not in groups or f"{first} {second}" not in commands:
            unknown.add(f"partnerhub {first} {second}".strip())
    assert sorted(unknown) == []


def _api_paths(tmp_path: Path) -> list[str]:
    """The ``/v1`` paths of the app's own OpenAPI document (building the app opens nothing)."""
    from partnerhub.app import create_app

    app = create_app(Settings(data_dir=tmp_path), database_url="postgresql://unused@127.0.0.1/x")
    return [path for path in app.openapi()["paths"] if path.startswith("/v1/")]


def _path_pattern(path: str) -> re.Pattern[str]:
    # a path parameter may be spelled {id}, {customerId}, <id> or an example value
    parameter = r"(?:\{[^}/]+\}|<[^>/]+>|[A-Za-z0-9_-]+)"
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", parameter, re.escape(path)) + "$")


def _documented_paths() -> tuple[set[str], set[str]]:
    """Whole paths, and prefixes written as ``/v1/telephony/config/...`` or ``/v1/wholesale/``."""
    whole, prefixes = set(), set()
    for match in re.finditer(r"(?<![\w/])(/v1(?:/[A-Za-z0-9_{}<>-]+)+)(/(?:\.\.\.)?)?", _docs()):
        (prefixes if match.group(2) else whole).add(match.group(1))
    return whole, prefixes


def test_every_api_path_is_documented_and_every_documented_one_served(tmp_path: Path) -> None:
    patterns = {path: _path_pattern(path) for path in _api_paths(tmp_path)}
    documented, prefixes = _documented_paths()
    undocumented = [p for p, rx in patterns.items() if not any(rx.match(d) for d in documented)]
    assert undocumented == [], "API paths no page of docs/ (or README.md) names"
    unknown = [d for d in documented if not any(rx.match(d) for rx in patterns.values())]
    unknown += [p for p in prefixes if not any(path.startswith(p + "/") for path in patterns)]
    assert sorted(unknown) == [], "paths the docs name that the app does not serve"


def test_migrations_the_docs_name_exist() -> None:
    versions = ROOT / "src" / "partnerhub" / "migrations" / "versions"
    files = {path.name for path in versions.glob("[0-9][0-9][0-9][0-9]_*.py")}
    numbers = {name[:4] for name in files}
    wrong = []
    for page in PAGES:
        text = page.read_text()
        for name in re.findall(r"`(\d{4}_\w+\.py)`", text):
            if name not in files:
                wrong.append(f"{page.name}: {name}")
        for number in re.findall(r"migrations? `?(\d{4})\b", text):
            if number not in numbers:
                wrong.append(f"{page.name}: migration {number}")
    assert wrong == []
