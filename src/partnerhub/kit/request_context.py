"""The request being answered, for code far from the route (log lines, the audit log).

``kit.web.HttpGuard`` (always installed) and ``ops.metrics.Observe`` (when metrics or JSON logs
are on) set :data:`REQUEST` to the ASGI scope of every request; its ``state`` holds
``tracking_id`` and the caller (``principal``, ``portal``, ``org_access``). Outside a request (a
task, a CLI command) it is ``None``.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

REQUEST: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "partnerhub_request", default=None
)


@dataclass(frozen=True)
class Origin:
    """Where a request came from: what the audit log keeps of it."""

    ip: str = ""
    user_agent: str = ""
    tracking_id: str = ""
    state: Any = None


def origin() -> Origin:
    """The current request's client address, user agent and TrackingID (empty outside one)."""
    scope = REQUEST.get()
    if scope is None:
        return Origin()
    client = scope.get("client")
    user_agent = ""
    for name, value in scope.get("headers") or ():
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
            break
    state = scope.get("state") or {}
    return Origin(
        ip=str(client[0]) if client else "",
        user_agent=user_agent[:512],
        tracking_id=str(state.get("tracking_id") or "")[:200],
        state=state,
    )
