"""Benchmark: `partnerhub serve` start-up time and idle memory on the embedded PostgreSQL.

Prints: first start (fresh data directory: initdb, migrations, first partner) to a ready
/readyz; warm start (same data directory, server stopped in between) to ready; resident
memory of the serving process after it has idled; how long Ctrl-C takes to end it (with the
embedded PostgreSQL it started), and that no PostgreSQL process is left. Targets (issue 2):
warm < 5 s, first < 15 s, idle RSS < 250 MB.

    .venv/bin/python bench/startup.py [--runs 3] [--idle 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    env = {
        **os.environ,
        "PARTNERHUB_DATA_DIR": str(data_dir),
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_ADMIN_PASSWORD": "bench-only-password",
        "PARTNERHUB_LOG_LEVEL": "warning",
    }
    env.pop("PARTNERHUB_DATABASE_URL", None)
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/readyz"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return proc, time.perf_counter() - began
        except httpx.HTTPError:
            pass
        if time.perf_counter() - began > 120:
            proc.kill()
            raise SystemExit("serve did not become ready in 120 s")
        time.sleep(0.05)


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """Live PostgreSQL processes working in ``pgdata`` (none should outlive ``serve``)."""
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


def stop(proc: subprocess.Popen[bytes], pgdata: Path) -> tuple[float, int]:
    """Ctrl-C; returns (seconds to exit, PostgreSQL processes left 5 s later)."""
    began = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    took = time.perf_counter() - began
    deadline = time.monotonic() + 5
    while (left := postgres_of(pgdata)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return took, len(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm starts to time")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="partnerhub-bench-")).resolve()
    pgdata = data_dir / "pgdata"
    stops: list[float] = []
    left = 0
    try:
        port = free_port()
        proc, first = start(data_dir, port)
        time.sleep(args.idle)
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        took, orphans = stop(proc, pgdata)
        stops.append(took)
        left += orphans
        warm: list[float] = []
        for _ in range(args.runs):
            proc, seconds = start(data_dir, free_port())
            warm.append(seconds)
            took, orphans = stop(proc, pgdata)
            stops.append(took)
            left += orphans
    finally:
        for orphan in postgres_of(pgdata):
            orphan.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(f"first start to ready (initdb + migrations): {first:6.2f} s   target < 15 s")
    print(
        f"warm start to ready (median of {len(warm)}):      {statistics.median(warm):6.2f} s"
        f"   target < 5 s   (all: {', '.join(f'{w:.2f}' for w in warm)})"
    )
    print(f"idle resident memory of the serving process: {rss:6.1f} MB  target < 250 MB")
    print(
        f"Ctrl-C to exit, embedded PostgreSQL stopped (median of {len(stops)}): "
        f"{statistics.median(stops):6.2f} s   PostgreSQL processes left: {left}"
    )


if __name__ == "__main__":
    main()
