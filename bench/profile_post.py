"""Where a POST's CPU goes in the serving process: cProfile with a CPU clock, inside `serve`.

Starts `partnerhub serve --no-worker` under cProfile (switched on and off by signals, so that
start-up and provisioning are not counted) and a `partnerhub worker` on a fresh embedded
database, makes one provisioned customer, then POSTs --count resources (--resource locations:
POST /v1/locations; subscribers: POST /v1/wholesale/subscribers) with --clients in flight,
twice: unprofiled (the serving process's CPU a POST from /proc/<pid>/stat) and profiled. Prints
both, the profile's share by package and its top functions; --out keeps the profile.

    .venv/bin/python bench/profile_post.py [--resource locations] [--count 400] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import customers as cbench
import events as ebench
from customers import environment, free_port, start_worker, stop

# Run as `python bench/profile_post.py --serve ...`: the profiled server itself.
SERVE_FLAG = "--serve"


def serve_profiled(out: str) -> None:
    import cProfile

    profile = cProfile.Profile(time.process_time)
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())

    def dump(*_: object) -> None:
        profile.disable()
        profile.dump_stats(out)

    signal.signal(signal.SIGUSR2, dump)
    from partnerhub.cli import app

    sys.argv = ["partnerhub", "serve", "--no-worker"]
    app()


def by_package(path: str, count: int) -> None:
    stats = pstats.Stats(path)
    total = 0.0
    shares: collections.Counter[str] = collections.Counter()
    for (filename, _, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        total += own
        if "site-packages/" in filename:
            key = filename.split("site-packages/")[1].split("/")[0]
        elif "/src/partnerhub/" in filename:
            key = "partnerhub/" + filename.split("/src/partnerhub/")[1]
        elif filename == "~":
            key = "builtins"
        else:
            key = "stdlib " + filename.rsplit("/", 1)[-1]
        shares[key] += own
    print(f"profiled: {1000 * total / count:.2f} ms a POST; by package (own time):")
    for key, own in shares.most_common(15):
        print(f"  {100 * own / total:5.1f} %  {1000 * own / count:6.3f} ms  {key}")
    stats.sort_stats("tottime").print_stats(20)


def start_profiled(env: dict[str, str], port: int, out: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, SERVE_FLAG, out], env=env, stdout=subprocess.DEVNULL
    )
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("serve exited")
        time.sleep(0.2)


async def drive(
    proc: subprocess.Popen[bytes], port: int, token: str, resource: str, count: int, clients: int
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
    ) as client:
        org, customer_id = await ebench.provisioned_customer(client)
        path = f"/v1/locations?orgId={org}" if resource == "locations" else ebench.SUBSCRIBERS
        target = ebench.Target(resource, path, org, customer_id)

        async def batch(prefix: str) -> None:
            gate = asyncio.Semaphore(clients)

            async def one(i: int) -> None:
                _, body = target.request(prefix, i)
                async with gate:
                    response = await client.post(target.path, json=body)
                assert response.status_code in (200, 201, 202), response.text

            await asyncio.gather(*(one(i) for i in range(count)))

        await batch("Warm")
        cpu = ebench.cpu_seconds(proc.pid)
        await batch("Plain")
        used = ebench.cpu_seconds(proc.pid) - cpu
        print(
            f"{resource}: serving process CPU {1000 * used / count:.2f} ms a POST"
            f" (unprofiled, {count} POSTs, {clients} in flight; load {ebench.loadavg()})"
        )
        proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.5)
        await batch("Profiled")
        proc.send_signal(signal.SIGUSR2)
        await asyncio.sleep(2)


def run(resource: str, count: int, clients: int, out: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="ph-profile-"))
    port = free_port()
    env = environment(data_dir, port)
    proc = start_profiled(env, port, out)
    worker = start_worker(env)
    try:
        cbench.SCOPES = ebench.SCOPES
        asyncio.run(drive(proc, port, cbench.token(env), resource, count, clients))
    finally:
        stop(proc)
        stop(worker)
        shutil.rmtree(data_dir, ignore_errors=True)
    by_package(out, count)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == SERVE_FLAG:
        serve_profiled(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resource", choices=("locations", "subscribers"), default="locations")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "post.prof"))
    args = parser.parse_args()
    run(args.resource, args.count, args.clients, args.out)


if __name__ == "__main__":
    main()
