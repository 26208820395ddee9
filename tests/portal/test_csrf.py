"""CSRF: every portal form carries the session's token, and every POST without it (or with a
wrong one) is refused with a 403 page that changes nothing."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from partnerhub.db import Database
from tests.conftest import csrf_of, portal_login
from tests.factories import Tenant
from tests.portal.helpers import WIZARD, browser_session, create_template, snapshot, walk_to

FORM_RE = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
CSRF_TEXT = "The form has expired or did not come from this site"


def post_forms(html: str) -> list[tuple[str, str]]:
    """``(action, form html)`` of every POST form of a page."""
    out = []
    for form in FORM_RE.findall(html):
        head = form[: form.index(">") + 1]
        if re.search(r'method="post"', head, re.I):
            action = re.search(r'action="([^"]*)"', head)
            assert action, head
            out.append((action.group(1), form))
    return out


async def setup_everything(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, str, str]:
    """A template, a token and a wizard at review; returns (csrf, template path, token id)."""
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    template = await create_template(client, csrf, tenant)
    created = await client.post(
        "/settings/tokens",
        data={
            "csrf_token": csrf,
            "name": "ci",
            "scopes": "partnerhub:templates_read",
            "expires": "30d",
        },
    )
    assert created.status_code == 200, created.text
    token_id = re.search(r'action="/settings/tokens/([^/]+)/revoke"', created.text)
    assert token_id
    await walk_to(client, csrf, tenant, "review", name="Second")
    return csrf, template, token_id.group(1)


async def test_every_form_carries_the_csrf_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf, template, _ = await setup_everything(client, tenant)
    pages = [
        "/customers/templates",
        template,
        "/settings/tokens",
        *(f"{WIZARD}/{s}" for s in ("offer", "core", "calling", "authentication", "email")),
        f"{WIZARD}/review",
    ]
    home = await client.get("/customers/templates")
    pages += re.findall(r'href="(/[^"#?]*)"', re.findall(r"<nav.*?</nav>", home.text, re.S)[0])
    seen = 0
    for path in dict.fromkeys(pages):
        page = await client.get(path)
        if page.status_code != 200:
            continue  # a page another part of the portal has not built yet
        for action, form in post_forms(page.text):
            assert f'name="csrf_token" value="{csrf}"' in form, (path, action)
            seen += 1
    assert seen >= 10


async def test_every_post_form_refuses_a_missing_or_wrong_token(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf, template, token_id = await setup_everything(client, tenant)
    actions = {
        "/logout": {},
        "/language": {"lang": "it", "next": "/"},
        "/settings/tokens": {"name": "x", "scopes": "partnerhub:templates_read"},
        f"/settings/tokens/{token_id}/revoke": {},
        f"{template}/delete": {},
        f"{WIZARD}/offer": {"offer": "wholesale"},
        f"{WIZARD}/core": {"name": "Changed"},
        f"{WIZARD}/calling": {"pstn_provider": "PSTN Co"},
        f"{WIZARD}/authentication": {"auth_method": "partner_oidc", "oidc_idp_name": "x"},
        f"{WIZARD}/email": {"brand_name": "Changed"},
        f"{WIZARD}/review": {},
    }
    # Every POST form on these pages is in the list above.
    for path in ("/customers/templates", template, "/settings/tokens", f"{WIZARD}/review"):
        page = await client.get(path)
        for action, _ in post_forms(page.text):
            assert action in actions, action
    before = await snapshot(db)
    for action, fields in actions.items():
        for sent in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            response = await client.post(action, data={**fields, **sent})
            assert response.status_code == 403, (action, sent, response.text)
            assert response.headers["content-type"].startswith("text/html")
            assert CSRF_TEXT in response.text
            assert await snapshot(db) == before, (action, sent)
    # The session still works with the real token.
    page = await client.get("/customers/templates")
    assert page.status_code == 200
    assert csrf_of(page.text) == csrf


async def test_login_form_needs_its_token(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    await client.get("/login")
    before = await snapshot(db)
    for sent in ({}, {"csrf_token": "forged"}):
        response = await client.post(
            "/login", data={"email": tenant.admin.email, "password": tenant.password, **sent}
        )
        assert response.status_code == 403
        assert CSRF_TEXT in response.text
        assert "set-cookie" not in response.headers
    assert await snapshot(db) == before


async def test_token_of_another_session_is_refused(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    mine = await portal_login(client, tenant.admin.email, tenant.password)
    async with browser_session(app) as other:
        theirs = await portal_login(other, tenant.admin.email, tenant.password)
        assert theirs != mine
        await walk_to(other, theirs, tenant, "core")
        before = await snapshot(db)
        response = await other.post(f"{WIZARD}/core", data={"csrf_token": mine, "name": "X"})
        assert response.status_code == 403
        assert await snapshot(db) == before
