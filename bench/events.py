"""Benchmark: the event stream and webhook delivery under a sustained change rate.

Starts its own `partnerhub serve` (with its in-process worker, which runs the webhook delivery
loop; or with --separate-worker `serve --no-worker` and a `partnerhub worker` process) on a
fresh embedded database, makes one provisioned customer, then:
  1. without any webhook: creates one resource a request at --rate per second for --seconds
     (open loop: request i starts at i/rate, whatever the previous ones do), the API p50/p99;
     --resource locations (default): POST /v1/locations; --resource subscribers: POST
     /v1/wholesale/subscribers (a meetings subscriber), the hottest write;
  2. with one webhook on that resource (`locations` or `wholesaleSubscribers`, event
     `created`) aimed at a local receiver (bench/receiver.py: http.server in a process of its
     own, HTTP/1.1 keep-alive, answering 200 at once): the same load, the API p50/p99 again,
     and from each POST's answer to the receiver holding its event: every event delivered?
     latency p50/p99;
  3. the webhook deleted, the same load again without it: "without webhooks" is phases 1 and 3
     together (before and after the phase with one: the tables grow and autovacuum runs as
     time goes, and weigh on both sides alike), with each phase's p99 printed too;
  4. reading the whole feed (`GET /v1/events`, pages of 1000): events per second.
The load goes through bench/_http.py's lean client (16 kept-alive connections, one request at a
time each), its latency counted from when each request was due.
Each figure with the load average (/proc/loadavg) at its end, and the CPU seconds the serving
process (and the separate worker, and the receiver) used in each phase; then median, min and
max of --runs runs.

    .venv/bin/python bench/events.py [--rate 200] [--seconds 60] [--runs 3] [--separate-worker]
                                     [--resource locations|subscribers]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _http import Connection

import customers as cbench
from customers import environment, free_port, start, start_worker, stop

SCOPES = (
    "spark-admin:wholesale_customers_write,partnerhub:templates_write,partnerhub:locations_write,"
    "spark-admin:wholesale_subscribers_write,spark-admin:wholesale_subscribers_read"
)
WEBHOOK_RESOURCE = {"locations": "locations", "subscribers": "wholesaleSubscribers"}
ADDRESS = {
    "addressLine1": "771 Alder Drive",
    "city": "Milpitas",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "95035",
    "country": "US",
}


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Receiver:
    """bench/receiver.py in a process of its own; ``arrived()``: arrival time by name."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / "arrivals.tsv"
        self.file.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "receiver.py"), str(self.file)],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().decode().strip()

    def arrived(self) -> dict[str, float]:
        arrivals: dict[str, float] = {}
        for line in self.file.read_text().splitlines():
            name, _, at = line.partition("\t")
            arrivals.setdefault(name, float(at))
        return arrivals

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


LOCATION = {
    "timeZone": "America/Los_Angeles",
    "preferredLanguage": "en_us",
    "announcementLanguage": "en_us",
    "address": {
        "address1": "771 Alder Drive",
        "city": "Milpitas",
        "state": "CA",
        "postalCode": "95035",
        "country": "US",
    },
}


def postgres_seconds(data_dir: Path) -> float:
    """User + system CPU seconds of the embedded PostgreSQL so far: its postmaster and its
    current children (the pools' connections live through a phase)."""
    pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    children = psutil.Process(pid).children()
    total = 0.0
    for process in [psutil.Process(pid), *children]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class Cpu:
    """CPU seconds of the serving process, the separate worker (0 without one) and the
    embedded PostgreSQL since made."""

    def __init__(
        self, serve: subprocess.Popen[bytes], worker: subprocess.Popen[bytes] | None, data: Path
    ):
        self.pids = [serve.pid] + ([worker.pid] if worker is not None else [])
        self.data = data
        self.start = [cpu_seconds(pid) for pid in self.pids]
        self.postgres = postgres_seconds(data)

    def since(self) -> tuple[float, float, float]:
        used = [cpu_seconds(pid) - s for pid, s in zip(self.pids, self.start, strict=True)]
        return (
            used[0],
            used[1] if len(used) > 1 else 0.0,
            postgres_seconds(self.data) - self.postgres,
        )


REFUSED: dict[str, int] = {}
SECONDS: dict[str, dict[int, list[float]]] = {}  # latencies by the second they were due


def worst_seconds(prefix: str) -> str:
    """Where a phase's tail is: the three seconds with the highest p99 (a stall shows in a
    second of its own, a server that falls behind in many)."""
    by_second = {second: pct(got, 0.99) for second, got in SECONDS[prefix].items()}
    worst = sorted(by_second.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"second {second}: {value:.0f} ms" for second, value in worst)


CLIENTS = 16  # kept-alive connections of the load, one request at a time each


@dataclass(frozen=True)
class Target:
    """What the load creates: request i is ``POST path`` with ``body(i)``; its event's data
    carries ``name`` (a location's name, a subscriber's email)."""

    resource: str
    path: str
    org: str
    customer_id: str

    def request(self, prefix: str, i: int) -> tuple[str, dict[str, Any]]:
        if self.resource == "subscribers":
            email = f"{prefix.lower()}{i}@bench.example"
            return email, {"customerId": self.customer_id, "email": email, "package": MEETINGS}
        name = f"{prefix} {i}"
        return name, {"name": name, **LOCATION}


MEETINGS = "webex_meetings"
SUBSCRIBERS = "/v1/wholesale/subscribers"


async def paced(
    load: Load, target: Target, prefix: str, rate: float, seconds: float
) -> tuple[list[float], dict[str, float], float]:
    """POST up to rate*seconds resources, request i due at i/rate, over ``CLIENTS`` kept-alive
    connections of the lean client (bench/_http.py; httpx spent most of a core at 200
    requests/s here and its own delays showed as API latency), each sending one request at a
    time; none started after ``seconds``. Latency counts from when a request was due, so a
    server that falls behind shows it. Returns (latencies ms of every answer, answer time by
    name of the created ones, achieved rate); 503s counted in REFUSED."""
    count = int(rate * seconds)
    latencies: list[float] = []
    answered: dict[str, float] = {}
    failed: list[int] = []
    indices = iter(range(count))
    SECONDS[prefix] = {}
    began_all = time.monotonic()
    stop_at = began_all + seconds

    async def client() -> None:
        async with Connection(load.host, load.port, load.headers) as http:
            for i in indices:
                due = began_all + i / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if time.monotonic() > stop_at:  # the server fell behind: not sent at all
                    return
                name, body = target.request(prefix, i)
                began = min(due, time.monotonic())
                status, _, _ = await http.request("POST", target.path, body)
                ended = time.monotonic()
                latencies.append((ended - began) * 1000)
                SECONDS[prefix].setdefault(int(due - began_all), []).append(latencies[-1])
                if status in (200, 201, 202):
                    answered[name] = ended
                else:
                    failed.append(status)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    elapsed = time.monotonic() - began_all
    REFUSED[prefix] = len(failed)
    assert set(failed) <= {503}, failed[:3]  # 503: no database connection free in time
    return latencies, answered, len(latencies) / elapsed


@dataclass(frozen=True)
class Load:
    """Where the load goes: the server's address and the requests' fixed headers."""

    host: str
    port: int
    headers: dict[str, str]


async def provisioned_customer(client: httpx.AsyncClient) -> tuple[str, str]:
    """A template and a provisioned customer of it: (its orgId, its id)."""
    template = await client.post(
        "/v1/partner/templates",
        json={
            "name": "bench",
            "offer": "wholesale",
            "serviceProviderAdminEmail": cbench.ADMIN_EMAIL,
            "country": "US",
            "defaultEmailLanguage": "en_US",
            "wholesaleSubscriptionId": "Sub-1",
            "authentication": {"method": "platform"},
            "email": {"brandName": "Bench"},
        },
    )
    template.raise_for_status()
    created = await client.post(
        "/v1/wholesale/customers",
        json={
            "provisioningId": template.json()["provisioningId"],
            "packages": ["webex_meetings"],
            "externalId": f"ext-{uuid.uuid4().hex[:8]}",
            "address": ADDRESS,
            "customerInfo": {"name": "Bench", "primaryEmail": "b@bench.example"},
        },
    )
    created.raise_for_status()
    url = created.headers["Location"]
    while True:
        got = (await client.get(url)).json()
        if got["status"] == "provisioned":
            break
        await asyncio.sleep(0.2)
    return str(got["orgId"]), str(got["id"])


async def run_once(
    rate: float, seconds: float, poll: float, separate: bool, resource: str
) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="ph-events-bench-"))
    port = free_port()
    env = environment(data_dir, port)
    env["PARTNERHUB_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "true"
    env["PARTNERHUB_WEBHOOK_POLL_SECONDS"] = str(poll)
    proc = start(env, port, worker=not separate)
    worker = start_worker(env) if separate else None
    receiver = Receiver(data_dir)
    try:
        cbench.SCOPES = SCOPES
        token = cbench.token(env)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
        ) as client:
            org, customer_id = await provisioned_customer(client)
            path = f"/v1/locations?orgId={org}" if resource == "locations" else SUBSCRIBERS
            target = Target(resource, path, org, customer_id)
            load = Load("127.0.0.1", port, headers)
            await paced(load, target, "Warm", rate, min(seconds, 5.0))  # connections, caches
            cpu = Cpu(proc, worker, data_dir)
            plain, _, plain_rate = await paced(load, target, "Plain", rate, seconds)
            plain_cpu = cpu.since()
            plain_load = loadavg()
            hook = await client.post(
                "/v1/webhooks",
                json={
                    "name": "bench",
                    "targetUrl": receiver.url,
                    "resource": WEBHOOK_RESOURCE[resource],
                    "event": "created",
                    "secret": "bench",
                },
            )
            hook.raise_for_status()
            cpu = Cpu(proc, worker, data_dir)
            receiver_start = cpu_seconds(receiver.process.pid)
            posts, answered, hooked_rate = await paced(load, target, "Site", rate, seconds)
            post_load = loadavg()
            deadline = time.monotonic() + 120
            while True:  # the receiver is another process: poll its file
                arrived = receiver.arrived()
                if len(arrived) >= len(answered) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            receiver_cpu = cpu_seconds(receiver.process.pid) - receiver_start
            latencies = [(arrived[n] - answered[n]) * 1000 for n in answered if n in arrived]
            hooked_cpu = cpu.since()  # the sends that were still due are in it
            delivery_load = loadavg()
            # The same load again without the webhook: the two phases without it come before
            # and after the one with it, so what changes with time (the tables grow,
            # autovacuum) weighs on both sides alike.
            (await client.delete(f"/v1/webhooks/{hook.json()['id']}")).raise_for_status()
            again, _, _ = await paced(load, target, "Again", rate, seconds)
            again_load = loadavg()
            began = time.monotonic()
            total, after = 0, ""
            while True:
                page = (await client.get("/v1/events", params={"after": after, "max": 1000})).json()
                if not page["items"]:
                    break
                total += len(page["items"])
                after = page["next"]
            feed_seconds = time.monotonic() - began
    finally:
        receiver.stop()
        stop(proc)
        if worker is not None:
            stop(worker)
        shutil.rmtree(data_dir, ignore_errors=True)
    out = {
        "api_plain_p50_ms": statistics.median(plain + again),
        "api_plain_p99_ms": pct(plain + again, 0.99),
        "api_before_p99_ms": pct(plain, 0.99),
        "api_after_p99_ms": pct(again, 0.99),
        "api_webhook_p50_ms": statistics.median(posts),
        "api_webhook_p99_ms": pct(posts, 0.99),
        "rate_plain_per_s": plain_rate,
        "rate_webhook_per_s": hooked_rate,
        "refused_plain": float(REFUSED.get("Plain", 0)),
        "refused_webhook": float(REFUSED.get("Site", 0)),
        "delivered": float(len(latencies)),
        "delivery_p50_ms": statistics.median(latencies) if latencies else -1.0,
        "delivery_p99_ms": pct(latencies, 0.99) if latencies else -1.0,
        "feed_events_per_s": total / feed_seconds if feed_seconds else 0.0,
        "serve_cpu_ms_per_post_plain": 1000 * plain_cpu[0] / max(1, len(plain)),
        "serve_cpu_ms_per_post_webhook": 1000 * hooked_cpu[0] / max(1, len(posts)),
        "worker_cpu_ms_per_event": 1000 * hooked_cpu[1] / max(1, len(latencies)),
        "postgres_cpu_ms_per_post_plain": 1000 * plain_cpu[2] / max(1, len(plain)),
        "postgres_cpu_ms_per_post_webhook": 1000 * hooked_cpu[2] / max(1, len(posts)),
        "receiver_cpu_ms_per_event": 1000 * receiver_cpu / max(1, len(latencies)),
    }
    print(
        f"without webhooks: {len(plain)} POST {target.path.split('?')[0]} at {plain_rate:.0f}/s,"
        f" serve CPU {out['serve_cpu_ms_per_post_plain']:.2f} ms a POST, p50"
        f" {out['api_plain_p50_ms']:.1f} ms p99 {out['api_plain_p99_ms']:.1f} ms,"
        f" {REFUSED.get('Plain', 0)} refused 503 (load"
        f" {plain_load}); with a webhook: {len(posts)} at {hooked_rate:.0f}/s, p50"
        f" {out['api_webhook_p50_ms']:.1f} ms p99 {out['api_webhook_p99_ms']:.1f} ms,"
        f" serve CPU {out['serve_cpu_ms_per_post_webhook']:.2f} ms a POST, worker"
        f" {out['worker_cpu_ms_per_event']:.2f} ms an event (receiver"
        f" {out['receiver_cpu_ms_per_event']:.2f} ms),"
        f" {REFUSED.get('Site', 0)} refused 503 (load"
        f" {post_load}); delivered {len(latencies)}/{len(answered)}, commit to receipt p50"
        f" {out['delivery_p50_ms']:.0f} ms p99 {out['delivery_p99_ms']:.0f} ms (load"
        f" {delivery_load}); feed {total} events at {out['feed_events_per_s']:.0f}/s"
        f" (load {loadavg()})",
        flush=True,
    )
    print(
        f"  without webhooks, before and after the phase with one: p99"
        f" {out['api_before_p99_ms']:.1f} and {out['api_after_p99_ms']:.1f} ms (load"
        f" {again_load}); both together p50 {out['api_plain_p50_ms']:.1f} ms p99"
        f" {out['api_plain_p99_ms']:.1f} ms; with the webhook p99 / without:"
        f" {out['api_webhook_p99_ms'] / out['api_plain_p99_ms']:.2f}",
        flush=True,
    )
    print(
        f"  PostgreSQL CPU a POST: {out['postgres_cpu_ms_per_post_plain']:.2f} ms without"
        f" webhooks, {out['postgres_cpu_ms_per_post_webhook']:.2f} ms with one",
        flush=True,
    )
    print(
        f"  p99 by second, the worst three: without webhooks {worst_seconds('Plain')}, after"
        f" {worst_seconds('Again')}; with a webhook {worst_seconds('Site')}",
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=1.0, help="the fallback poll interval")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--resource",
        choices=("locations", "subscribers"),
        default="locations",
        help="what the load creates: POST /v1/locations or POST /v1/wholesale/subscribers",
    )
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="serve --no-worker and a partnerhub worker process (the delivery loop's own)",
    )
    args = parser.parse_args()
    print(
        f"{args.resource}, {args.rate:.0f}/s for {args.seconds:.0f} s,"
        f" {'separate worker' if args.separate_worker else 'worker in serve'};"
        f" {Path('/proc/loadavg').read_text().strip()}",
        flush=True,
    )
    results = [
        asyncio.run(
            run_once(args.rate, args.seconds, args.poll, args.separate_worker, args.resource)
        )
        for _ in range(args.runs)
    ]
    for key in results[0]:
        values = [r[key] for r in results]
        print(
            f"{key}: median {statistics.median(values):.1f}, min {min(values):.1f},"
            f" max {max(values):.1f}"
        )


if __name__ == "__main__":
    main()
