"""A :class:`FastRequest` as the fast lane's middleware builds one (kit/fastlane.py), for the
tests that call a fast-lane handler directly."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from partnerhub.kit.fastlane import FastRequest


def fast_request(
    app: FastAPI,
    method: str,
    path: str,
    token: str,
    body: bytes = b"",
    query: bytes = b"",
    **headers: str,
) -> FastRequest:
    raw = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "scheme": "https",
        "headers": raw,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 443),
        "app": app,
        "state": {"tracking_id": "PH_fast"},
    }
    return FastRequest(scope, {k.decode(): v.decode() for k, v in raw}, body)
