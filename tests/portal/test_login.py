"""Portal sign-in and sign-out, session cookie flags, server-side sessions."""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie

import httpx
from fastapi import FastAPI

from partnerhub.db import Database
from tests.conftest import csrf_of, portal_login
from tests.factories import Tenant
from tests.portal.helpers import browser_session, snapshot


def session_cookie(response: httpx.Response, name: str = "partnerhub_session") -> SimpleCookie:
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(headers) == 1, headers
    jar: SimpleCookie = SimpleCookie()
    jar.load(headers[0])
    assert name in jar
    return jar


async def login_form(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    assert page.status_code == 200
    return csrf_of(page.text)


async def test_login_succeeds_and_sets_a_hardened_cookie(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    page = await client.get("/login")
    # The sign-in form's CSRF cookie (a signed double-submit token): no session row before
    # sign-in (docs/security.md, "Anonymous visitors").
    anonymous = session_cookie(page, "partnerhub_csrf")["partnerhub_csrf"]
    assert anonymous["httponly"] is True and anonymous["secure"] is True
    assert anonymous["samesite"].lower() == "lax"
    assert (await snapshot(db))["sessions"] == []
    response = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "email": tenant.admin.email.upper(),  # emails are case-insensitive
            "password": tenant.password,
            "next": "/settings/tokens",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/tokens"
    cookie = session_cookie(response)["partnerhub_session"]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) > 0
    # A new session id at sign-in (no fixation), stored only as its SHA-256.
    assert cookie.value != anonymous.value
    state = await snapshot(db)
    hashes = [s["token_hash"] for s in state["sessions"]]
    assert hashlib.sha256(cookie.value.encode()).digest() in hashes
    assert hashlib.sha256(anonymous.value.encode()).digest() not in hashes
    assert all(cookie.value.encode() not in bytes(h) for h in hashes)
    signed_in = [s for s in state["sessions"] if s["admin_id"] == tenant.admin.id]
    assert len(signed_in) == 1

    page = await client.get("/customers/templates")
    assert page.status_code == 200
    assert tenant.admin.email in page.text
    assert "Sign out" in page.text


async def test_wrong_password_gets_401_and_nothing_else(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    token = await login_form(client)
    before = await snapshot(db)
    response = await client.post(
        "/login",
        data={
            "csrf_token": token,
            "email": tenant.admin.email,
            "password": "not-the-password",
            "next": "/",
        },
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "Wrong email or password" in response.text
    assert "set-cookie" not in response.headers
    assert tenant.admin.email in response.text  # the typed email is kept
    assert await snapshot(db) == before  # no session, no last-login stamp
    page = await client.get("/customers/templates")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


async def test_unknown_email_gets_the_same_answer(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await login_form(client)
    response = await client.post(
        "/login",
        data={"csrf_token": token, "email": "nobody@nowhere.example", "password": "x" * 12},
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.text


async def test_signed_out_visitor_is_sent_to_login_and_back(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    page = await client.get("/customers/templates/new")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/customers/templates/new"
    form = await client.get(page.headers["location"])
    assert 'name="next" value="/customers/templates/new"' in form.text
    response = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(form.text),
            "email": tenant.admin.email,
            "password": tenant.password,
            "next": "/customers/templates/new",
        },
    )
    assert response.headers["location"] == "/customers/templates/new"


async def test_login_never_redirects_off_site(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        token = await login_form(client)
        response = await client.post(
            "/login",
            data={
                "csrf_token": token,
                "email": tenant.admin.email,
                "password": tenant.password,
                "next": target,
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        client.cookies.clear()


async def test_logout_ends_the_session(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, app: FastAPI
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cookie = client.cookies["partnerhub_session"]
    response = await client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    cleared = session_cookie(response)["partnerhub_session"]
    assert cleared.value == ""
    assert int(cleared["max-age"]) == 0
    assert cleared["secure"] is True  # a deletion a browser applies to the Secure cookie
    state = await snapshot(db)
    assert not [s for s in state["sessions"] if s["admin_id"] == tenant.admin.id]
    # The old cookie is worthless now, even replayed by someone who kept it.
    async with browser_session(app) as thief:
        thief.cookies.set("partnerhub_session", cookie, domain="testserver")
        page = await thief.get("/customers/templates")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")


async def test_deactivated_admin_is_signed_out(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    from partnerhub.models import PartnerAdmin

    await portal_login(client, tenant.admin.email, tenant.password)
    async with db.transaction() as session:
        admin = await session.get(PartnerAdmin, tenant.admin.id)
        assert admin is not None
        admin.active = False
    page = await client.get("/customers/templates")
    assert page.status_code == 303
    token = await login_form(client)
    response = await client.post(
        "/login",
        data={"csrf_token": token, "email": tenant.admin.email, "password": tenant.password},
    )
    assert response.status_code == 401


async def test_login_page_warns_when_the_secure_cookie_cannot_work(app: FastAPI) -> None:
    warning = "browsers refuse the secure session cookie there"
    for base, warned in (
        ("http://partnerhub.example", True),
        ("http://192.0.2.10:8000", True),
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
        ("https://partnerhub.example", False),
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as visitor:
            page = await visitor.get("/login")
            assert (warning in page.text) is warned, base
