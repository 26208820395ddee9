"""A webhook receiver for the benchmarks, in a process of its own, as a real receiver is (in a
thread of the load generator it competed with the generator's event loop for one interpreter,
and its work showed up as API latency). http.server, HTTP/1.1 keep-alive, answering 200 at
once. Every arrival is a line ``<name>\\t<time.monotonic()>`` (CLOCK_MONOTONIC: the same clock
in every process of the machine) in the file given, written every 50 ms; the first line on
standard output is the receiver's URL.

    python bench/receiver.py ARRIVALS_FILE
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ARRIVED: list[str] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        data = json.loads(body)["data"]
        name = data.get("name") or data.get("email") or ""  # a location, a subscriber
        line = f"{name}\t{time.monotonic()}\n"
        with LOCK:
            ARRIVED.append(line)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    out = Path(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    with out.open("a") as file:
        while True:
            time.sleep(0.05)
            with LOCK:
                lines = ARRIVED[:]
                ARRIVED.clear()
            if lines:
                file.writelines(lines)
                file.flush()


if __name__ == "__main__":
    main()
