"""Log lines: text (the default) or one JSON object per line (``PARTNERHUB_LOG_FORMAT=json``).

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, for every
line logged while a request is being answered, the request's ``trackingId``, ``method``,
``route`` (the template, once routing chose one), and ``partnerId`` (once the caller is known).
The request is found through a context variable (:mod:`partnerhub.kit.request_context`) that
:class:`partnerhub.ops.metrics.Observe` and ``kit.web.HttpGuard`` set; the fields are read from
the request only when a line is written, so a request that logs nothing pays nothing. Secrets
are redacted before formatting (:mod:`partnerhub.kit.logsafe`) in both formats.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

from partnerhub.kit.request_context import REQUEST  # set by Observe and kit.web.HttpGuard

UNMATCHED = "unmatched"  # the route of a request no route took (404s, 413/415 before routing)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Where the caller of a request is kept in its state: the API's bearer check (``principal``),
# the portal's session (``portal``), the customer portal's (``org_access``).
_CALLER_KEYS = ("principal", "portal", "org_access")


def partner_of(state: dict[str, Any]) -> str | None:
    for key in _CALLER_KEYS:
        caller = state.get(key)
        if caller is None:
            continue
        try:  # a portal page's context raises when nobody signed in
            caller = getattr(caller, "principal", caller)
            partner = getattr(caller, "partner_id", None)
        except Exception:  # noqa: S112 (no caller: no partner on the line)
            continue
        if partner is not None:
            return str(partner)
    return None


def route_of(scope: Scope) -> str:
    """The template of the route that took the request (bounded: never the raw path)."""
    route = scope.get("route")
    if route is not None:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
    return UNMATCHED


def request_fields() -> dict[str, Any]:
    """The current request's fields for a log line (empty outside a request)."""
    scope = REQUEST.get()
    if scope is None:
        return {}
    state = scope.get("state") or {}
    fields: dict[str, Any] = {
        "trackingId": state.get("tracking_id"),
        "method": scope.get("method"),
        "route": route_of(scope),
    }
    partner = partner_of(state)
    if partner is not None:
        fields["partnerId"] = partner
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the request's fields (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(request_fields())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: str, level: str) -> None:
    """The process's root handler (stderr) in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Python's warnings go through logging too (a JSON line, not raw text on stderr).
    logging.captureWarnings(log_format == "json")


def uvicorn_config(base: dict[str, Any], log_format: str) -> dict[str, Any]:
    """uvicorn's logging configuration ``base`` with every formatter JSON when asked."""
    if log_format != "json":
        return base
    config = copy.deepcopy(base)
    for name in config.get("formatters", {}):
        config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
    return config
