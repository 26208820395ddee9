"""Process life of ``partnerhub serve`` / ``worker`` with the embedded PostgreSQL, for real.

Real subprocesses on a data directory of this module's own (not the session's database): a
SIGTERM or Ctrl-C (SIGINT) stops the server gracefully and leaves no PostgreSQL process of that
data directory behind; a second process that joined the server leaves it to its owner; the
server of an owner killed with SIGKILL is adopted at the next start, and one that died itself
(a stale ``postmaster.pid``) is recovered. The PostgreSQL processes are found with psutil, by
their data directory (docs/configuration.md, "Embedded PostgreSQL: who stops it").
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120  # first start: initdb and every migration, on a loaded 2-core machine
SHUTDOWN_SECONDS = 5
STOP_BOUND = 2 * SHUTDOWN_SECONDS + 30  # docs/configuration.md: the graceful-stop bound


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """The live PostgreSQL processes (postmaster and backends) working in ``pgdata``."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        try:
            if Path(proc.cwd()).resolve() == pgdata or str(pgdata) in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_no_postgres(pgdata: Path, timeout: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := postgres_of(pgdata)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def wait(self, timeout: float = STOP_BOUND) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            raise AssertionError(f"did not exit within {timeout} s:\n{self.text()}") from None


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    # Not under pytest's basetemp: concurrent pytest runs of the same user prune old basetemps,
    # which would delete the data directory under the running server.
    path = Path(tempfile.mkdtemp(prefix="partnerhub-life-")).resolve()
    yield path
    for proc in postgres_of(path / "pgdata"):  # only if a test failed midway
        proc.kill()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def logs(data_dir: Path, request: pytest.FixtureRequest) -> Path:
    path = data_dir / "logs" / request.node.name
    path.mkdir(parents=True)
    return path


@pytest.fixture
def spawn() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait(10)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PARTNERHUB_DATABASE_URL", "PARTNERHUB_TEST_DATABASE_URL")
    }
    env.update(
        PARTNERHUB_DATA_DIR=str(data_dir),
        PARTNERHUB_ADMIN_PASSWORD="process-life-unused",
        PARTNERHUB_SHUTDOWN_SECONDS=str(SHUTDOWN_SECONDS),
        PARTNERHUB_LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start(spawn: list[Proc], data_dir: Path, logs: Path, *args: str, **env: str) -> Proc:
    name = f"{args[0]}-{len(spawn)}"
    log = logs / f"{name}.log"
    extra = dict(env)
    port = free_port()
    if args[0] == "serve":
        extra["PARTNERHUB_PORT"] = str(port)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", *args],
            env=_env(data_dir, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=logs,
        )
    proc = Proc(popen, log)
    spawn.append(proc)
    deadline = time.monotonic() + START_TIMEOUT
    if args[0] == "serve":
        proc.url = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{proc.url}/readyz", timeout=2).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            assert popen.poll() is None, proc.text()
            time.sleep(0.3)
    else:  # a worker: ready once it runs
        while time.monotonic() < deadline:
            if "PartnerHub worker running" in proc.text():
                return proc
            assert popen.poll() is None, proc.text()
            time.sleep(0.3)
    raise AssertionError(f"{args} did not start:\n{proc.text()}")


def test_sigterm_ends_serve_gracefully_and_stops_its_postgres(
    data_dir: Path, logs: Path, spawn: list[Proc]
) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    # No xmlsec1: serve says so in one line at start, and runs.
    serve = start(spawn, data_dir, logs, "serve", PARTNERHUB_XMLSEC1="/nonexistent/xmlsec1")
    assert "Partner SAML single sign-on is unavailable: the xmlsec1 program is not installed" in (
        serve.text()
    )
    assert "apt-get" not in serve.text().split("Partner SAML")[0]  # nothing was installed
    assert postgres_of(pgdata), "the embedded PostgreSQL should be running"

    # A request in flight when SIGTERM arrives still gets its answer: half a form is sent,
    # then the signal, then the rest of the form.
    body = b"email=nobody%40example.com&password=wrong-password&csrf_token=x"
    port = int(serve.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        head = (
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode() + body[:20])
        time.sleep(1.0)
        began = time.monotonic()
        serve.signal(signal.SIGTERM)
        time.sleep(1.0)
        conn.sendall(body[20:])
        answer = conn.recv(65536).decode(errors="replace")
    status = int(answer.split(" ", 2)[1])
    assert answer.startswith("HTTP/1.1 ") and status < 500, answer[:300]

    code = serve.wait()
    assert time.monotonic() - began < STOP_BOUND
    assert code == 128 + signal.SIGTERM, serve.text()
    assert wait_no_postgres(pgdata) == [], serve.text()
    assert "embedded PostgreSQL stopped" in serve.text()


def test_ctrl_c_ends_serve_and_stops_its_postgres(
    data_dir: Path, logs: Path, spawn: list[Proc]
) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    serve = start(spawn, data_dir, logs, "serve")
    assert postgres_of(pgdata)
    serve.signal(signal.SIGINT)
    serve.wait()
    assert wait_no_postgres(pgdata) == [], serve.text()


def test_a_joining_process_leaves_the_server_to_its_owner(
    data_dir: Path, logs: Path, spawn: list[Proc]
) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    owner = start(spawn, data_dir, logs, "serve")
    postmaster = {p.pid for p in postgres_of(pgdata)}
    joiner = start(spawn, data_dir, logs, "worker")
    assert "embedded PostgreSQL joined" in joiner.text()

    joiner.signal(signal.SIGTERM)
    assert joiner.wait() == 128 + signal.SIGTERM, joiner.text()
    assert "left running for 1 other process" in joiner.text()
    time.sleep(1)
    assert postmaster & {p.pid for p in postgres_of(pgdata)}, "the owner's server was stopped"
    assert httpx.get(f"{owner.url}/readyz", timeout=5).status_code == 200

    # The owner, now the last user, stops it.
    owner.signal(signal.SIGTERM)
    owner.wait()
    assert wait_no_postgres(pgdata) == [], owner.text()


def test_the_server_of_a_killed_owner_is_recovered_at_the_next_start(
    data_dir: Path, logs: Path, spawn: list[Proc]
) -> None:
    pgdata = (data_dir / "pgdata").resolve()

    # 1. The owner is killed: its PostgreSQL runs on, and the next start adopts it.
    first = start(spawn, data_dir, logs, "serve")
    first.signal(signal.SIGKILL)
    first.wait()
    left = postgres_of(pgdata)
    assert left, "a SIGKILLed process cannot stop its server"
    second = start(spawn, data_dir, logs, "serve")
    assert "this process adopts it" in second.text()
    second.signal(signal.SIGTERM)
    second.wait()
    assert wait_no_postgres(pgdata) == [], second.text()

    # 2. The owner and its PostgreSQL are killed: a stale postmaster.pid is left behind.
    third = start(spawn, data_dir, logs, "serve")
    postmaster_pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    third.signal(signal.SIGKILL)
    third.wait()
    os.kill(postmaster_pid, signal.SIGKILL)
    assert (pgdata / "postmaster.pid").exists()
    fourth = start(spawn, data_dir, logs, "serve")
    assert "did not stop cleanly" in fourth.text() and "recovering" in fourth.text()
    assert httpx.get(f"{fourth.url}/readyz", timeout=5).status_code == 200
    fourth.signal(signal.SIGTERM)
    fourth.wait()
    assert wait_no_postgres(pgdata) == [], fourth.text()


def test_the_launcher_never_installs_system_packages() -> None:
    for line in (ROOT / "partnerhub").read_text().splitlines():
        assert line.lstrip().startswith("#") or "apt-get" not in line, line
    for path in (ROOT / "src").rglob("*.py"):
        text = path.read_text()
        assert 'apt-get", "install' not in text and "'apt-get'" not in text, path
