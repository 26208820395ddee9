"""API fuzzing, the longer run: schemathesis over every operation of the vendor's published
spec and of PartnerHub's own hub-only operations, with the checks of the in-suite test
(``tests/reliability/fuzz/engine.py``): no 5xx, responses conform to their documented schema,
every error body in the contract's shape.

By default it starts its own ``partnerhub serve`` (with its worker, null backend, rate limits
off) on a fresh embedded database and creates a token holding every scope; ``--url`` and
``--token`` point it at a running server instead (loopback only, please: it writes data).
Prints the cases tried per operation, the statuses seen and every distinct failure with a
curl command that reproduces it; exits 1 when there is any failure.

    .venv/bin/python bench/fuzz.py [--examples 100] [--negative 33] [--seed N]
                                   [--url URL --token TOKEN] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.fuzz import engine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path, port: int, log: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env = {
        **os.environ,
        "PARTNERHUB_DATA_DIR": str(data_dir),
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_ADMIN_EMAIL": "fuzz@partnerhub.local",
        "PARTNERHUB_ADMIN_PASSWORD": "fuzz-only-password",
        "PARTNERHUB_LOG_LEVEL": "warning",
        "PARTNERHUB_BACKEND": "null",
        "PARTNERHUB_RATE_LIMIT_PER_TOKEN": "0",
        "PARTNERHUB_RATE_LIMIT_PER_ADDRESS": "0",
    }
    env.pop("PARTNERHUB_DATABASE_URL", None)
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=out, stderr=out
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc, env
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not become ready in 120 s")


def all_scopes_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [
            *(sys.executable, "-m", "partnerhub", "token", "create", "--name", "fuzz"),
            *("--scope", ",".join(engine.ALL_SCOPES_LIST)),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--examples", type=int, default=100, help="schema-valid cases per operation"
    )
    parser.add_argument(
        "--negative",
        type=int,
        default=None,
        help="schema-invalid cases per operation "
        "(default: a third of --examples; they are several times slower to generate)",
    )
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default random)")
    parser.add_argument("--url", help="a running PartnerHub (default: start one)")
    parser.add_argument("--token", help="a token with every scope, for --url")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and log")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(2**32)
    negative = args.negative if args.negative is not None else max(1, args.examples // 3)
    print(f"seed {args.seed}; {args.examples} positive and {negative} negative cases per operation")

    proc = None
    data_dir = Path(tempfile.mkdtemp(prefix="partnerhub-fuzz-"))
    log = data_dir / "serve.log"
    try:
        if args.url:
            if not args.token:
                parser.error("--url needs --token")
            url, token = args.url.rstrip("/"), args.token
        else:
            port = free_port()
            proc, env = start(data_dir, port, log)
            url, token = f"http://127.0.0.1:{port}", all_scopes_token(env)
        began = time.monotonic()
        seed_data = engine.seed(url, token)

        def progress(name: str, stats: engine.Stats) -> None:
            print(
                f"{stats.by_operation.get(name, 0):6d} cases  {name}"
                f"  (total {stats.cases}, failures {len(stats.failures)})",
                flush=True,
            )

        stats = engine.fuzz(
            url,
            token,
            seed_data,
            args.examples,
            derandomize=False,
            random_seed=args.seed,
            negative_examples=negative,
            progress=progress,
        )
        elapsed = time.monotonic() - began
        for failure in stats.failures:
            print(f"\nFAILURE {failure.operation} [{failure.status}]\n{failure.message}")
            print(f"reproduce: {failure.curl}")
        never = sorted(
            name
            for name, statuses in stats.statuses_by_operation.items()
            if not any(200 <= status < 300 for status in statuses)
        )
        print(f"\noperations never answered 2xx ({len(never)}): {', '.join(never) or '-'}")
        print(stats.summary())
        print(f"cases tried: {stats.cases}  failures: {len(stats.failures)}  in {elapsed:.0f} s")
        return 1 if stats.failures else 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"data and log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
