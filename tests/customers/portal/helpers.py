"""Helpers for the portal tests of customers and customer set-up."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import text

from partnerhub.db import Database


async def post(client: httpx.AsyncClient, csrf: str, url: str, data: Any = None) -> httpx.Response:
    """Post a form; ``data`` is a dict, or a list of pairs for repeated fields."""
    pairs = [("csrf_token", csrf), *(data.items() if isinstance(data, dict) else data or [])]
    return await client.post(
        url,
        content=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def rows(*users: dict[str, str]) -> dict[str, str]:
    """Form fields of the "Add users (wholesale)" rows."""
    out: dict[str, str] = {}
    for i, user in enumerate(users):
        for key, value in user.items():
            out[f"{key}-{i}"] = value
    return out


def row_error(html: str, row: int, field: str) -> str | None:
    match = re.search(rf'id="row-{row}-{field}-error"[^>]*>([^<]*)<', html)
    return unescape(match.group(1)) if match else None


def unescape(value: str) -> str:
    import html

    return html.unescape(value)


async def scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.transaction() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def users_of(db: Database, customer_id: Any) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        result = await session.execute(
            text(
                "SELECT email, first_name, last_name, package, phone_number, extension, "
                "location_id FROM org_users WHERE customer_id = :c ORDER BY email"
            ),
            {"c": customer_id},
        )
        return [dict(r._mapping) for r in result]


async def audit_actions(db: Database, customer_id: Any) -> list[dict[str, Any]]:
    """The customer's audit rows (``audit_events``), oldest first: the action, the actor and
    the row's detail."""
    async with db.transaction() as session:
        result = await session.execute(
            text(
                "SELECT action, actor_type, actor_email, actor_id, detail FROM audit_events "
                "WHERE customer_id = :c ORDER BY created"
            ),
            {"c": customer_id},
        )
        return [
            {
                **r.detail,
                "action": r.action,
                "actorType": r.actor_type,
                "actorEmail": r.actor_email,
                "actorId": str(r.actor_id) if r.actor_id else None,
            }
            for r in result
        ]
