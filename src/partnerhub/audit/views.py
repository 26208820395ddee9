"""The readable history (issue 12 item 5) as the portal pages show it: the filters of a page's
query string, the audit rows as sentences with their before/after values, translated.

The routes live with the pages that show the history, since they need each portal's
sign-in (the audit package is imported by identity, so it imports no portal):
``/audit`` (partner portal: the partner's own log, or one customer's), the customer page's
*History* (``customers.views``) and ``/org/{customer}/audit`` (``customer_portal.views``).
They all call :func:`history_context` and include ``audit/_history.html``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.audit import service
from partnerhub.audit.repository import AuditRepository
from partnerhub.catalog.customer_roles import CUSTOMER_ROLES
from partnerhub.catalog.packages import PACKAGES
from partnerhub.catalog.roles import PARTNER_ROLES
from partnerhub.catalog.statuses import CUSTOMER_STATUS_LABELS
from partnerhub.errors import ApiError
from partnerhub.kit.scope import Principal

PAGE_SIZE = 50
FIELD_LABELS: dict[str, str] = {}  # field names are shown as the wire names them


@dataclass(frozen=True)
class HistoryQuery:
    category: str = ""
    actor: str = ""
    offset: int = 0
    org: str = ""  # the partner portal's /audit: a sub-partner's orgId (its log), or ""

    def params(self, **changed: Any) -> dict[str, Any]:
        out = {
            "category": self.category,
            "actor": self.actor,
            "offset": self.offset,
            "org": self.org,
        }
        out.update(changed)
        return {k: v for k, v in out.items() if v not in ("", 0, None)}


def query_of(params: Mapping[str, str]) -> HistoryQuery:
    category = str(params.get("category") or "").strip().upper()
    if category not in service.CATEGORIES:
        category = ""
    try:
        offset = max(0, min(int(str(params.get("offset") or "0")), 1_000_000))
    except ValueError:
        offset = 0
    org = str(params.get("org") or "").strip()[:200]
    return HistoryQuery(category, str(params.get("actor") or "").strip()[:200], offset, org)


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Row:
    created: datetime
    actor: str
    actor_email: str
    actor_type: str
    actor_ip: str
    category: str
    description: str
    text: str
    target: str
    tracking_id: str
    changes: list[Change] = field(default_factory=list)


def _named(name: str, value: str) -> str | None:
    """The English name (a message id) of a catalogue value the field ``name`` holds: a
    package, a role or a customer status; None for any other value."""
    if name in ("package", "packages") and value in PACKAGES:
        return PACKAGES[value].label
    if name in ("role", "roles", "adminRole"):
        role = CUSTOMER_ROLES.get(value) or PARTNER_ROLES.get(value)
        return role.label if role is not None else None
    if name == "status":
        return CUSTOMER_STATUS_LABELS.get(value)
    return None


def _value(value: Any, name: str = "", gettext: Callable[[str], str] = str) -> str:
    """A before or after value as the reader should see it: catalogue values by their
    translated names, never their ids."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list):
        return ", ".join(_value(v, name, gettext) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(v, k, gettext)}" for k, v in value.items())
    label = _named(name, str(value))
    return gettext(label) if label is not None else str(value)


def rows_of(items: list[service.Shown], gettext: Callable[[str], str]) -> list[Row]:
    out = []
    for item in items:
        e = item.event
        actor = item.actor_name or e.actor_email or gettext("someone")
        if e.actor_type == "token":  # "API token <name>", in the reader's language
            actor = (gettext(service.TOKEN_ACTOR) % {"name": item.token_name or ""}).strip()
        changes = [
            Change(name, _value(pair[0], name, gettext), _value(pair[1], name, gettext))
            for name, pair in sorted((e.changes or {}).items())
            if isinstance(pair, list) and len(pair) == 2
        ]
        out.append(
            Row(
                created=e.created,
                actor=actor,
                actor_email=e.actor_email,
                actor_type=e.actor_type,
                actor_ip=e.actor_ip,
                category=gettext(service.CATEGORIES.get(e.category, e.category)),
                description=gettext(service.description(e)),
                text=service.action_text(e, actor, gettext),
                target=e.target_name or e.target_id,
                tracking_id=e.tracking_id,
                changes=changes,
            )
        )
    return out


async def history_context(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID | None,
    query: HistoryQuery,
    gettext: Callable[[str], str],
    *,
    sub_partners: bool = False,
) -> dict[str, Any]:
    """What ``audit/_history.html`` shows: one page of rows (newest first), the categories to
    filter by, and whether older rows remain. ``sub_partners`` (the partner portal's own log):
    the choice of the partner's own log or a direct sub-partner's (``query.org``; another
    organization is 404)."""
    repo = AuditRepository(session, principal)
    choices: list[tuple[str, str]] = []
    if sub_partners:
        choices = await service.sub_partner_choices(repo)
        if query.org:
            repo = await service.sub_partner_repo(repo, query.org)
    try:
        found = await service.history(
            repo,
            customer_id=customer_id,
            category=query.category or None,
            actor=query.actor or None,
            offset=query.offset,
            limit=PAGE_SIZE + 1,
        )
    except ApiError:
        found = []
    more = len(found) > PAGE_SIZE
    rows = rows_of(await service.shown(repo, found[:PAGE_SIZE]), gettext)
    return {
        "history": rows,
        "history_query": query,
        "history_sub_partners": choices,
        "history_categories": [(k, gettext(v)) for k, v in service.CATEGORIES.items()],
        "history_older": query.params(offset=query.offset + PAGE_SIZE) if more else None,
        "history_newer": (
            query.params(offset=max(0, query.offset - PAGE_SIZE)) if query.offset else None
        ),
    }
