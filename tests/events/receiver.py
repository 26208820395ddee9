"""A real HTTP webhook receiver (``http.server`` in a thread) that records every request and
answers as told: fail the first ``fail`` requests with 500, or never answer (``hang``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail = 0
        self.hang = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    if receiver.hang:
                        status = 0
                    elif receiver.fail > 0:
                        receiver.fail -= 1
                        status = 500
                    else:
                        status = 200
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                if status == 0:
                    time.sleep(3)  # longer than the delivery deadline
                    return
                answer = b'{"ok": true}' if status == 200 else b"receiver broken"
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ok(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200]
