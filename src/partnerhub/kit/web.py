"""HTTP plumbing shared by every router: tracking ids, body limits, errors, authentication."""

from __future__ import annotations

import html
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from partnerhub.db import Checkout, Database
from partnerhub.errors import ApiError, InvalidValue, error_body
from partnerhub.kit.repository import Work
from partnerhub.kit.request_context import REQUEST
from partnerhub.kit.scope import Principal

log = logging.getLogger("partnerhub.http")
API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/openapi.json")
BODY_METHODS = {"POST", "PUT", "PATCH"}
# The one API path that also takes a text/csv body: bulk subscriber imports (docs/setup.md).
CSV_UPLOAD_PATH = re.compile(r"/v1/partner/customers/[^/]+/imports")


_SLASHES = re.compile(rb"/{2,}")


def collapse_slashes(path: bytes) -> bytes:
    """``//v1//wholesale/customers`` → ``/v1/wholesale/customers``."""
    return _SLASHES.sub(b"/", path)


SEQUENCES = (list, tuple, set, frozenset)
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_PARAM = re.compile(r"\\{[^}/]+\\}")


def _documented_paths(app: Any) -> list[tuple[int, re.Pattern[str], list[str]]]:
    """``(literal segments, path regex, methods)`` of every path of the app's OpenAPI document,
    built once per app."""
    cached = getattr(app.state, "documented_paths", None)
    if cached is None:
        cached = []
        for template, item in app.openapi()["paths"].items():
            pattern = re.compile("^" + _PARAM.sub("[^/]+", re.escape(template)) + "$")
            literal = sum(1 for part in template.split("/") if part and "{" not in part)
            methods = sorted(m.upper() for m in item if m.upper() in HTTP_METHODS)
            cached.append((literal, pattern, methods))
        cached.sort(key=lambda entry: -entry[0])
        app.state.documented_paths = cached
    return cached


def allowed_methods(request: Request) -> list[str]:
    """The ``Allow`` of a 405: the methods of the path's resource. For the API, that is the
    most specific path of the OpenAPI document matching the request (``/subscribers/validate``
    rather than ``/subscribers/{id}``); for other pages, every method a route answers."""
    from starlette.routing import Match

    for _, pattern, methods in _documented_paths(request.app):
        if pattern.match(request.url.path):
            return methods
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches(dict(request.scope, method=method))[0] is Match.FULL for route in routes
        )
    ]


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path == "/v1"


def tracking_id(request: Request) -> str:
    return str(getattr(request.state, "tracking_id", None) or "")


def error_response(
    request: Request,
    status: int,
    errors: list[tuple[str, int]],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    tid = tracking_id(request)
    return JSONResponse(error_body(errors, tid), status_code=status, headers=headers)


def N_(message: str) -> str:
    """Marks ``message`` for extraction (Babel's ``N_`` keyword): the portal's error page
    translates it when it shows it."""
    return message


def plain_error_html(status: int, description: str) -> bytes:
    """A self-contained HTML error page (no template, no translation): what a page answers
    when nothing better is registered, or before the app could route the request."""
    title = "Temporarily unavailable" if status == 503 else "Something went wrong"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>PartnerHub</title>"
        "<link rel='stylesheet' href='/static/partnerhub.css'></head><body><main>"
        f"<section class='card narrow'><h1>{status} · {title}</h1>"
        f"<p class='error'>{html.escape(description)}</p>"
        "<p><a href='/'>PartnerHub</a></p></section></main></body></html>"
    ).encode()


async def plain_error_page(request: Request, status: int, detail: str) -> Response:
    return HTMLResponse(plain_error_html(status, detail), status_code=status)


# --- what the app plugs into kit at start-up (kit imports no domain package) ---------------

ErrorPage = Callable[[Request, int, str], Awaitable[Response]]
# (autocommit connection, Authorization header, address key, per-address, per-token limits)
BearerCheck = Callable[
    [psycopg.AsyncConnection[Any], str | None, str, int, int], Awaitable[Principal]
]


@dataclass(frozen=True)
class Plugins:
    """The domain's pieces kit calls, registered by the app with :func:`install`:

    * ``authenticate``: the bearer check with its rate-limit counters, on a connection of the
      autocommit pool (``identity.service.authenticate_on``), for :func:`api_principal`;
    * ``error_page``: the HTML error page of a path outside the API (the portal's, translated;
      :func:`plain_error_page` when none is registered);
    """

    authenticate: BearerCheck
    error_page: ErrorPage = plain_error_page


def install(app: FastAPI, plugins: Plugins) -> None:
    """Register ``plugins`` and the error handlers that answer in the contract's shape (JSON
    under the API's paths, ``plugins.error_page`` elsewhere)."""
    app.state.kit_plugins = plugins
    # Added before the routers are included, so that every route gets it.
    app.router.dependencies.append(Depends(single_query_values))
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(DataError, data_error_handler)  # e.g. NUL in a text value
    # The same refused by the driver itself (a plain statement of a Work's driver connection).
    app.add_exception_handler(psycopg.DataError, data_error_handler)
    app.add_exception_handler(Exception, unhandled_handler)


def _is_list(annotation: Any) -> bool:
    """Whether a query parameter's annotation takes several values (``list[str]``...)."""
    origin = get_origin(annotation)
    if origin in SEQUENCES or annotation in SEQUENCES:
        return True
    if origin is Annotated:
        return _is_list(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_is_list(arg) for arg in get_args(annotation))
    return False


def _single_value_names(route: Any) -> frozenset[str]:
    """The query parameters of ``route`` (its dependencies' included) that take one value."""
    cached: frozenset[str] | None = getattr(route, "single_query_names", None)
    if cached is None:
        names: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            pending.extend(dependant.dependencies)
            for param in dependant.query_params:
                if not _is_list(param.field_info.annotation):
                    names.add(param.alias)
        cached = frozenset(names)
        route.single_query_names = cached
    return cached


async def single_query_values(request: Request) -> None:
    """A query parameter that takes one value, given more than once (``?max=1&max=2``), is
    a 400 (errorCode 1003) under ``/v1``, rather than one of its values silently winning.
    A dependency of every route (:func:`install`), so one place decides it for all. (``async``
    although it never awaits: FastAPI runs a plain ``def`` dependency in its thread pool, a
    hand-over to another thread and back on every request.)"""
    route = request.scope.get("route")
    if route is None or not request.url.path.startswith("/v1"):
        return
    single = _single_value_names(route)
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in single:
            if name in seen:
                raise InvalidValue(f"{name}: given more than once", field=name)
            seen.add(name)


def plugins_of(app: Any) -> Plugins:
    plugins: Plugins | None = getattr(app.state, "kit_plugins", None)
    if plugins is None:
        raise RuntimeError("kit.web.install(app, Plugins(...)) was not called")
    return plugins


async def html_error(request: Request, status: int, detail: str) -> Response:
    """The registered HTML error page (a page outside the API)."""
    plugins: Plugins | None = getattr(request.app.state, "kit_plugins", None)
    page = plugins.error_page if plugins is not None else plain_error_page
    return await page(request, status, detail)


class CsrfFailed(Exception):
    """A form without the right CSRF token (the app answers 403 with an HTML page)."""


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


def security_headers(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    """Headers every response gets unless the app set them itself (see docs/security.md)."""
    headers = [(b"x-content-type-options", b"nosniff")]
    api = is_api_path(path)
    if not api or path == "/docs":
        headers += [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
        if path != "/docs":  # Swagger UI loads its own inline bootstrap script
            headers.append((b"content-security-policy", CSP.encode()))
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    if path.startswith("/static/"):
        headers.append((b"cache-control", b"public, max-age=3600"))
    elif not api:
        headers.append((b"cache-control", b"no-store"))
    return headers


class HttpGuard:
    """Pure ASGI middleware: TrackingID echo, security headers, body size limit (413),
    JSON-only API bodies (415).

    Runs before routing so that every error path, even one FastAPI never sees, answers in the
    contract's shape.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The request being answered, for the audit log and log lines (kit.request_context).
        token = REQUEST.set(scope)
        try:
            await self._guard(scope, receive, send)
        finally:
            REQUEST.reset(token)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "//" in scope["path"]:
            # ``//v1/...`` (a base URL ending in a slash, as wxcadm's default builds it) is the
            # normalized path; nothing is redirected, the request is answered as it.
            path_bytes = collapse_slashes(scope["path"].encode("utf-8", "surrogateescape"))
            scope = dict(scope, path=path_bytes.decode("utf-8", "surrogateescape"))
            if scope.get("raw_path"):
                scope["raw_path"] = collapse_slashes(scope["raw_path"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        tid = (headers.get("trackingid") or "").strip()[:200] or f"PH_{uuid.uuid4()}"
        scope.setdefault("state", {})["tracking_id"] = tid
        REQUEST.set(scope)  # the normalized scope, whose state the routes fill
        path: str = scope["path"]
        method: str = scope["method"]
        api = is_api_path(path)

        started = False

        extra = security_headers(path, scope.get("scheme") == "https")

        async def send_with_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                raw.extend((k, v) for k, v in extra if k not in present)
                raw.append((b"trackingid", tid.encode("latin-1", "replace")))
                message["headers"] = raw
            await send(message)

        async def reject(
            status: int, description: str, code: int, retry_after: str | None = None
        ) -> None:
            body = json.dumps(error_body([(description, code)], tid)).encode()
            raw_headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            if retry_after:
                raw_headers.append((b"retry-after", retry_after.encode()))
            await send_with_tracking(
                {"type": "http.response.start", "status": status, "headers": raw_headers}
            )
            await send_with_tracking({"type": "http.response.body", "body": body})

        async def send_html(status: int, description: str) -> None:
            body = plain_error_html(status, description)
            await send_with_tracking(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_tracking({"type": "http.response.body", "body": body})

        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await reject(400, "Content-Length is not a number", 1001)
                return
            if declared > self.max_body:
                await reject(413, f"Request body is larger than {self.max_body} bytes", 1400)
                return
        has_body = (length is not None and length != "0") or "transfer-encoding" in headers
        if api and method in BODY_METHODS and has_body:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json" and not (
                ctype == "text/csv" and method == "POST" and CSV_UPLOAD_PATH.fullmatch(path)
            ):
                await reject(415, "Content-Type must be application/json", 1401)
                return

        if length is None and "transfer-encoding" in headers:
            # No declared length: read the (bounded) body first, then replay it to the app.
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    await reject(413, f"Request body is larger than {self.max_body} bytes", 1400)
                    return
                chunks.append(chunk)
                more = bool(message.get("more_body"))
            receive = replaying(b"".join(chunks), receive)

        try:
            await self.app(scope, receive, send_with_tracking)
        except Exception as exc:
            if started:
                raise
            status, description, code, retry = classify_unhandled(exc, tid)
            if api:
                await reject(status, description, code, retry)
            else:
                await send_html(status, description)


SHOWN_MAX = 100  # characters of an invalid input quoted in its error description
SECRET_FIELDS = ("password", "secret", "token")  # inputs never quoted back


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not is_api_path(request.url.path):
        return await html_error(request, 400, "The request is not valid")
    errors: list[tuple[str, int]] = []
    for err in exc.errors():
        etype = err.get("type", "")
        loc = tuple(err.get("loc", ()))
        name = _field_name(loc)
        if etype == "json_invalid" or (loc in (("body",),) and etype.endswith("_type")):
            errors.append(("The request body is not a valid JSON object", 1001))
        elif etype == "missing":
            errors.append((f"{name}: is required", 1002))
        elif etype == "extra_forbidden":
            errors.append((f"{name}: is not a known field", 1003))
        else:
            value = err.get("input")
            shown = value if isinstance(value, str | int | float | bool) else type(value).__name__
            if isinstance(shown, str) and len(shown) > SHOWN_MAX:
                shown = shown[:SHOWN_MAX] + "…"  # never echo a megabyte back
            if any(word in name.lower() for word in SECRET_FIELDS):
                shown = "(hidden)"  # nor a password
            msg = str(err.get("msg", "invalid value"))
            errors.append((f"{name}: value '{shown}' is not allowed ({msg})", 1003))
    if not errors:
        errors.append(("The request is not valid", 1003))
    # Missing-body / not-an-object errors come first: they explain the rest.
    errors.sort(key=lambda e: e[1])
    return error_response(request, 400, errors)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    problems = getattr(exc, "problems", None) or [exc]
    if not is_api_path(request.url.path):
        return await html_error(request, exc.status, problems[0].description)
    return error_response(
        request, exc.status, [(p.description, p.code) for p in problems], headers=exc.headers
    )


HTTP_CODES = {
    400: 1001,
    401: 1500,
    403: 1300,
    404: 1100,
    405: 1402,
    413: 1400,
    415: 1401,
    422: 1403,
    429: 1404,
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if not is_api_path(request.url.path):
        return await html_error(request, status, str(exc.detail))
    descriptions = {
        404: "The requested resource was not found",
        405: f"Method {request.method} is not allowed on this resource",
    }
    description = descriptions.get(status, str(exc.detail))
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(
        request, status, [(description, HTTP_CODES.get(status, 1000 + status))], headers=headers
    )


async def data_error_handler(request: Request, exc: Exception) -> Response:
    """PostgreSQL refused a value (SQLSTATE class 22, "data exception": a NUL character, a
    number out of range...): the request's fault, not the server's. 400, nothing stored (the
    unit of work rolled back)."""
    # The driver's message only: the statement's parameters may hold secrets.
    # (``orig``: the driver's error under the ORM's; a plain statement's is the driver's own.)
    driver = getattr(exc, "orig", None) or exc
    reason = (str(driver) or exc.__class__.__name__).splitlines()[0][:200]
    log.warning("value refused by the database (tracking %s): %s", tracking_id(request), reason)
    description = N_("A value contains a character or a number that cannot be stored")
    if "NUL" in reason or "\\u0000" in reason:
        description = N_("A value contains a NUL character, which is not allowed")
    if not is_api_path(request.url.path):
        return await html_error(request, 400, description)
    return error_response(request, 400, [(description, 1003)])


def classify_unhandled(exc: Exception, tid: str) -> tuple[int, str, int, str | None]:
    """Status, description, errorCode and Retry-After for an exception nobody handled."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError

    unavailable = (
        OperationalError,
        InterfaceError,
        TimeoutError,
        OSError,
        psycopg.OperationalError,
    )
    # An InternalError of psycopg's own, without a server's SQLSTATE ("got no result from the
    # query"): the connection dropped under a raw driver statement (the autocommit pool) — as when
    # PgBouncer closes a client whose server went away mid-query.
    lost = isinstance(exc, psycopg.InternalError) and exc.sqlstate is None
    if (
        isinstance(exc, unavailable)
        or lost
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
    ):
        log.warning("database unavailable (tracking %s): %s", tid, exc.__class__.__name__)
        return 503, "The database is unavailable; retry later", 1600, "5"
    log.error("unhandled error (tracking %s)", tid, exc_info=exc)
    return 500, f"Internal server error; quote tracking id {tid}", 1999, None


async def unhandled_handler(request: Request, exc: Exception) -> Response:
    tid = tracking_id(request)
    status, description, code, retry = classify_unhandled(exc, tid)
    headers = {"Retry-After": retry} if retry else None
    return error_response(request, status, [(description, code)], headers=headers)


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first hands the already-read ``body`` to the app again."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- request dependencies --------------------------------------------------------------


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: commit at the end of the block, roll back on error."""
    async with database(request).transaction() as session:
        yield session


@asynccontextmanager
async def work(request: Request) -> AsyncIterator[Work]:
    """The request's unit of work (:class:`kit.repository.Work`): plain statements each on
    an autocommit connection of the pool (held only while the statement runs), the ORM
    session's transaction only when something asks for it; committed at the end of the
    block, rolled back on error."""
    db = database(request)
    unit = Work(db.sessions, await db.autocommit())
    try:
        yield unit
    except BaseException:
        await unit.abandon()
        raise
    await unit.finish()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def api_principal(request: Request) -> Principal:
    """Dependency: the bearer token's principal (401 without a valid token).

    Counts the request against the client address's and the token's rate limits (429).
    """
    settings = request.app.state.settings
    pool = await database(request).autocommit()
    async with Checkout(pool) as conn:  # one autocommit statement
        principal = await plugins_of(request.app).authenticate(
            conn,
            request.headers.get("authorization"),
            f"addr:{client_address(request)}",
            settings.rate_limit_per_address,
            settings.rate_limit_per_token,
        )
    request.state.principal = principal
    return principal
