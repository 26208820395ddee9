"""Security headers on portal pages and API responses."""

from __future__ import annotations

import httpx


async def test_portal_pages_carry_strict_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    # https base URL in the test client: HSTS is sent.
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    # No inline scripts in the page itself (the CSP would block them).
    assert "<script>" not in page.text and "onclick=" not in page.text


async def test_plain_http_gets_no_hsts(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        page = await c.get("/login")
    assert "Strict-Transport-Security" not in page.headers


async def test_session_cookie_flags(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie


async def test_api_responses_are_json_with_nosniff(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/partner/templates")
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
