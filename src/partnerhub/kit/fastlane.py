"""The fast lane: the API's hottest requests answered without FastAPI's per-request machinery.

A pure ASGI middleware, innermost (inside :class:`partnerhub.kit.web.HttpGuard`, so TrackingID,
security headers, the body-size and content-type checks and the 500/503 answers are the same as
for every other request). For a ``(method, path)`` with a registered handler it reads the body
and calls the handler, which works on the autocommit driver pool (``Database.direct``) with a
few plain statements and no ORM session. The handler answers only the common, valid case; for
anything else (a rule refused, an unusual parameter, a lost race caught by a constraint) it
returns :data:`FALL_BACK` *before anything is written*, and the request goes on to the ordinary
FastAPI route with its body replayed, which gives the contract's exact answer. The client sees
one request either way; the bearer check is not repeated (and not counted twice against the
rate limits): the principal the fast lane authenticated travels in the request's state
(``authenticated``), which :func:`partnerhub.kit.web.api_principal` uses.

Why: docs/performance.md, "Where a request's CPU goes".
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from starlette.types import ASGIApp, Receive, Scope, Send

from partnerhub.errors import ApiError, error_body
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import plugins_of, replaying


@dataclass
class FastRequest:
    scope: Scope
    headers: dict[str, str]
    body: bytes

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.scope.setdefault("state", {})
        return state

    @property
    def query_string(self) -> bytes:
        return bytes(self.scope.get("query_string") or b"")

    @property
    def tracking_id(self) -> str:
        return str(self.state.get("tracking_id") or "")

    @property
    def app_state(self) -> Any:
        return self.scope["app"].state

    def client_address(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else "unknown"

    def base_url(self) -> str:
        """``scheme://host`` as Starlette's ``url_for`` builds it (Host header, root path)."""
        scheme = self.scope.get("scheme", "http")
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server")
            if server:
                name, port = server
                default = {"http": 80, "https": 443}.get(scheme)
                host = name if port == default else f"{name}:{port}"
            else:
                host = "localhost"
        return f"{scheme}://{host}{self.scope.get('root_path', '')}"


@dataclass
class FastResponse:
    status: int
    content: Any
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def encoded(self) -> bytes:
        # As Starlette's JSONResponse renders.
        return json.dumps(
            self.content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")


FALL_BACK = None
Handler = Callable[[FastRequest], Awaitable[FastResponse | None]]
UNSENDABLE = (psycopg.DataError, UnicodeEncodeError)  # values the database refuses (a NUL…)


async def authenticate(
    request: FastRequest, conn: psycopg.AsyncConnection[Any], *scopes: str
) -> Principal | None:
    """The bearer check with its rate-limit counters on ``conn`` (the route's
    ``api_principal``), the suspended sub-partner rule for the request's method and, when
    given, one of ``scopes``. ``None`` when refused: the route then answers the refusal.

    Either way the principal (or the refusal) waits in the request state for the route, so a
    request that falls back is not counted twice against the rate limits.
    """
    plugins = plugins_of(request.scope["app"])  # registered by the app (kit.web.install)
    settings = request.app_state.settings
    try:
        principal = await plugins.authenticate(
            conn,
            request.headers.get("authorization"),
            f"addr:{request.client_address()}",
            settings.rate_limit_per_address,
            settings.rate_limit_per_token,
        )
        request.state["authenticated"] = principal
        plugins.refuse_if_suspended(principal, str(request.scope["method"]))
        if scopes:
            principal.require(*scopes)
    except ApiError as exc:
        request.state.setdefault("authenticated", exc)
        return None
    return principal


def error_response(request: FastRequest, exc: ApiError) -> FastResponse:
    """An :class:`ApiError` in the contract's shape, as ``web.api_error_handler`` answers."""
    problems = getattr(exc, "problems", None) or [exc]
    body = error_body([(p.description, p.code) for p in problems], request.tracking_id)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
    return FastResponse(exc.status, body, headers)


class FastLane:
    """Routes ``(method, path)`` to a fast handler; everything else passes straight through."""

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = FastRequest(scope, headers, body)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = error_response(request, exc)
        if response is None:
            await self.app(scope, replaying(body, receive), send)
            return
        payload = response.encoded()
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", b"application/json"),
                    *response.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
