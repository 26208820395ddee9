"""Helpers for portal tests: sessions as separate clients, the wizard, database snapshots."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from partnerhub.db import Database
from tests.conftest import csrf_of, portal_login
from tests.factories import Tenant

BASE = "https://testserver"
WIZARD = "/customers/templates/wizard"


@asynccontextmanager
async def browser_session(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar: one more person using the portal."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def signed_in(client: httpx.AsyncClient, email: str, password: str) -> str:
    """Sign in; returns the session's CSRF token."""
    return await portal_login(client, email, password)


def core_fields(tenant: Tenant, **overrides: str) -> dict[str, str]:
    fields = {
        "name": "SMB Italy",
        "service_provider_admin_email": tenant.admin.email,
        "country": "IT",
        "default_email_language": "it_IT",
        "wholesale_subscription_id": "Sub-1234",
        "data_region": "",
    }
    fields.update(overrides)
    return fields


def valid_steps(tenant: Tenant, **core: str) -> dict[str, dict[str, str]]:
    return {
        "offer": {"offer": "wholesale"},
        "core": core_fields(tenant, **core),
        "calling": {"pstn_provider": ""},
        "authentication": {"auth_method": "platform"},
        "email": {"brand_name": "Acme Cloud"},
    }


async def post_step(
    client: httpx.AsyncClient, csrf: str, step: str, fields: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(f"{WIZARD}/{step}", data={"csrf_token": csrf, **(fields or {})})


async def start_wizard(client: httpx.AsyncClient) -> None:
    response = await client.get("/customers/templates/new")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{WIZARD}/offer"


async def walk_to(
    client: httpx.AsyncClient, csrf: str, tenant: Tenant, stop: str, **core: str
) -> None:
    """Start the wizard and accept every step before ``stop``."""
    await start_wizard(client)
    for step, fields in valid_steps(tenant, **core).items():
        if step == stop:
            return
        response = await post_step(client, csrf, step, fields)
        assert response.status_code == 303, response.text


async def create_template(
    client: httpx.AsyncClient, csrf: str, tenant: Tenant, name: str = "SMB Italy"
) -> str:
    """Create a template through the wizard; returns its page's path."""
    await walk_to(client, csrf, tenant, "review", name=name)
    response = await post_step(client, csrf, "review")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.endswith("?saved=1")
    return location.removesuffix("?saved=1")


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    return unescape(match.group(1)) if match else None


def input_value(html: str, field: str) -> str | None:
    match = re.search(rf'<input id="{field}" name="{field}" value="([^"]*)"', html)
    return unescape(match.group(1)) if match else None


def selected(html: str, field: str) -> str | None:
    block = re.search(rf'<select id="{field}"[^>]*>(.*?)</select>', html, re.S)
    if not block:
        return None
    match = re.search(r'<option value="([^"]*)" selected', block.group(1))
    return unescape(match.group(1)) if match else None


def checked_radio(html: str, name: str) -> str | None:
    match = re.search(rf'name="{name}" value="([^"]*)" checked', html)
    return match.group(1) if match else None


def unescape(value: str) -> str:
    import html

    return html.unescape(value)


def csrf(html: str) -> str:
    return csrf_of(html)


async def snapshot(db: Database) -> dict[str, Any]:
    """Everything a portal form could change, to show that a refused one changed nothing."""
    queries = {
        "templates": "SELECT * FROM templates ORDER BY id",
        "customers": "SELECT id, template_id FROM customers ORDER BY id",
        "api_tokens": "SELECT id, name, revoked, scopes FROM api_tokens ORDER BY id",
        "sessions": "SELECT token_hash, admin_id, language, data, csrf_token "
        "FROM portal_sessions ORDER BY token_hash",
        "admins": "SELECT id, language, last_login FROM partner_admins ORDER BY id",
    }
    out: dict[str, Any] = {}
    async with db.transaction() as session:
        for key, sql in queries.items():
            out[key] = [dict(r._mapping) for r in await session.execute(text(sql))]
    return out


async def count(db: Database, table: str) -> int:
    async with db.transaction() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
