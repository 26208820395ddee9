"""The API tokens page: a secret shown once and stored hashed; revocation ends it."""

from __future__ import annotations

import hashlib
import re

import httpx

from partnerhub.db import Database
from tests.conftest import assert_error, bearer, portal_login
from tests.factories import Tenant
from tests.portal.helpers import snapshot

SECRET_RE = re.compile(r'<code id="new-token">([^<]+)</code>')


async def api_token_rows(db: Database) -> list[dict[str, object]]:
    from sqlalchemy import text

    async with db.transaction() as session:
        rows = await session.execute(text("SELECT * FROM api_tokens"))
        return [dict(r._mapping) for r in rows]


async def test_create_shows_the_secret_once_and_stores_its_hash(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    response = await client.post(
        "/settings/tokens",
        data={
            "csrf_token": csrf,
            "name": "billing sync",
            "scopes": ["partnerhub:templates_read", "partnerhub:templates_write"],
            "expires": "30d",
        },
    )
    assert response.status_code == 200
    assert "Copy this token now: it will not be shown again." in response.text
    match = SECRET_RE.search(response.text)
    assert match
    secret = match.group(1)
    assert secret.startswith("ph_")
    [row] = await api_token_rows(db)
    assert row["token_hash"] == hashlib.sha256(secret.encode()).digest()
    assert row["prefix"] == secret[:10]
    assert row["name"] == "billing sync"
    assert row["scopes"] == ["partnerhub:templates_read", "partnerhub:templates_write"]
    assert row["created_by"] == tenant.admin.id
    assert row["expires"] is not None
    stored = " ".join(str(v) for v in row.values())
    assert secret not in stored  # only the hash and a short prefix are kept
    assert secret[10:] not in stored
    again = await client.get("/settings/tokens")
    assert secret not in again.text  # shown once
    assert "billing sync" in again.text
    assert secret[:10] in again.text  # its prefix identifies it
    works = await client.get("/v1/partner/templates", headers=bearer(secret))
    assert works.status_code == 200


async def test_revoked_token_gets_401(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    created = await client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": "ci", "scopes": "partnerhub:templates_read"},
    )
    match = SECRET_RE.search(created.text)
    assert match
    secret = match.group(1)
    assert (await client.get("/v1/partner/templates", headers=bearer(secret))).status_code == 200
    [row] = await api_token_rows(db)
    revoke = await client.post(f"/settings/tokens/{row['id']}/revoke", data={"csrf_token": csrf})
    assert revoke.status_code == 303
    page = await client.get(revoke.headers["location"])
    assert "The token was revoked." in page.text
    assert ">revoked<" in page.text
    [row] = await api_token_rows(db)
    assert row["revoked"] is not None
    refused = await client.get("/v1/partner/templates", headers=bearer(secret))
    assert_error(refused, 401, 1500)


async def test_refusals_keep_the_form_and_save_nothing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    before = await snapshot(db)
    no_scope = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "kept name", "expires": "365d"}
    )
    assert no_scope.status_code == 400
    assert "scopes: at least one scope is required" in no_scope.text
    assert 'value="kept name"' in no_scope.text
    assert '<option value="365d" selected>' in no_scope.text
    no_name = await client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": " ", "scopes": "partnerhub:templates_read"},
    )
    assert no_name.status_code == 400
    assert "name: a token name is required" in no_name.text
    assert 'value="partnerhub:templates_read" checked' in no_name.text
    for response in (no_scope, no_name):
        assert "ph_" not in response.text
    assert await snapshot(db) == before


async def test_tokens_of_another_partner_cannot_be_revoked(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    await other_tenant.token("partnerhub:templates_read")
    [row] = await api_token_rows(db)
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/settings/tokens")
    assert str(row["id"]) not in page.text
    response = await client.post(f"/settings/tokens/{row['id']}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
    bad = await client.post("/settings/tokens/not-a-uuid/revoke", data={"csrf_token": csrf})
    assert bad.status_code == 404
    assert bad.headers["content-type"].startswith("text/html")
    [row] = await api_token_rows(db)
    assert row["revoked"] is None
