"""Roles in the portal: read_only sees and never changes; sales cannot create templates."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from partnerhub.db import Database
from tests.conftest import portal_login
from tests.factories import Tenant
from tests.portal.helpers import (
    WIZARD,
    browser_session,
    create_template,
    post_step,
    snapshot,
    valid_steps,
)


@pytest.mark.parametrize("role", ["read_only", "sales"])
async def test_role_without_write_cannot_create_templates(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database, role: str
) -> None:
    owner_csrf = await portal_login(client, tenant.admin.email, tenant.password)
    template = await create_template(client, owner_csrf, tenant)
    admin, password = await tenant.add_admin(role)
    async with browser_session(app) as viewer:
        csrf = await portal_login(viewer, admin.email, password)
        listing = await viewer.get("/customers/templates")
        assert listing.status_code == 200
        assert "SMB Italy" in listing.text  # sees
        assert "Create template" not in listing.text
        assert 'href="/customers/templates/new"' not in listing.text
        page = await viewer.get(template)
        assert page.status_code == 200
        assert "Delete template" not in page.text
        assert f'href="{template}/edit"' not in page.text

        before = await snapshot(db)
        refused = [
            await viewer.get("/customers/templates/new"),
            await viewer.get(f"{WIZARD}/offer"),
            await viewer.get(f"{WIZARD}/review"),
            await viewer.get(f"{template}/edit"),
        ]
        for step, fields in valid_steps(tenant).items():
            refused.append(await post_step(viewer, csrf, step, fields))
        refused.append(await post_step(viewer, csrf, "review"))
        refused.append(await viewer.post(f"{template}/delete", data={"csrf_token": csrf}))
        for response in refused:
            assert response.status_code == 403, (response.request.url, response.text)
            assert response.headers["content-type"].startswith("text/html")
            assert "Not permitted" in response.text
            assert re.search(
                r"Your role cannot (create|delete|create or change) templates", response.text
            )
        assert await snapshot(db) == before
        assert (await viewer.get(template)).status_code == 200  # still there


async def test_read_only_cannot_manage_tokens(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    owner_csrf = await portal_login(client, tenant.admin.email, tenant.password)
    created = await client.post(
        "/settings/tokens",
        data={"csrf_token": owner_csrf, "name": "ci", "scopes": "partnerhub:templates_read"},
    )
    token_id = re.search(r'action="/settings/tokens/([^/]+)/revoke"', created.text)
    assert token_id
    admin, password = await tenant.add_admin("read_only")
    async with browser_session(app) as viewer:
        csrf = await portal_login(viewer, admin.email, password)
        page = await viewer.get("/settings/tokens")
        assert page.status_code == 200
        assert "ci" in page.text  # sees the tokens
        assert "Create token" not in page.text
        assert "/revoke" not in page.text
        before = await snapshot(db)
        create = await viewer.post(
            "/settings/tokens",
            data={"csrf_token": csrf, "name": "mine", "scopes": "partnerhub:templates_read"},
        )
        revoke = await viewer.post(
            f"/settings/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf}
        )
        for response in (create, revoke):
            assert response.status_code == 403
            assert "Your role cannot manage API tokens" in response.text
            assert "ph_" not in response.text
        assert await snapshot(db) == before


async def test_admin_role_can_create_templates(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin, password = await tenant.add_admin("admin")
    csrf = await portal_login(client, admin.email, password)
    listing = await client.get("/customers/templates")
    assert "Create template" in listing.text
    path = await create_template(client, csrf, tenant, name="By an admin")
    assert (await client.get(path)).status_code == 200
