"""Who acts and for which request, for the event triggers (read at each transaction's BEGIN,
``partnerhub.db.ContextConnection``)."""

from __future__ import annotations

from typing import Any

from partnerhub.kit.request_context import REQUEST


def _actor(state: dict[str, Any]) -> str | None:
    for key in ("principal", "portal"):
        caller = state.get(key)
        if caller is None:
            continue
        try:  # a portal page's context raises when nobody signed in
            caller = getattr(caller, "principal", caller)
            actor = getattr(caller, "actor_id", None)
        except Exception:  # noqa: S112 (no caller: no actor)
            continue
        if actor is not None:
            return str(actor)
    return None


def current() -> tuple[str | None, str | None] | None:
    """(actor id, TrackingID) of the request being answered, or None outside a request."""
    scope = REQUEST.get()
    if scope is None:
        return None
    state = scope.get("state") or {}
    tracking = state.get("tracking_id")
    return _actor(state), str(tracking) if tracking else None
