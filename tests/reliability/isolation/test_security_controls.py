"""Security controls of issue 6, item 5, beyond tests/app: HSTS behind a TLS-terminating
proxy (only a trusted one), the frame and script policy on the pages nobody signs in for (the
isolation matrix checks every signed-in page), rate limits configured from the environment and
documented, and secrets kept out of exception texts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.kit import logsafe
from tests.conftest import assert_error, bearer
from tests.factories import Tenant
from tests.reliability.isolation.headers import frame_and_script_policy

ROOT = Path(__file__).resolve().parents[3]


# Pages anyone may open (the signed-in ones are checked by the isolation matrix).
PUBLIC_PAGES = (
    "/login",
    "/signin",
    "/signin/forgot",
    "/signin/done",
    "/account/set-password/not-a-link",
    "/account/reset-password/not-a-link",
    "/consent/not-a-token",
    "/no-such-page",
    "/customers",  # a redirect to the login page
)


async def test_public_pages_cannot_be_framed_and_run_no_inline_script(
    client: httpx.AsyncClient,
) -> None:
    for path in PUBLIC_PAGES:
        page = await client.get(path)
        assert page.status_code < 500, path
        assert frame_and_script_policy(page) is None, (path, frame_and_script_policy(page))


def _proxied(app: FastAPI, client_address: str, scheme: str) -> httpx.AsyncClient:
    """The app behind uvicorn's proxy-headers middleware as ``partnerhub serve`` runs it
    (``proxy_headers=True``, trusting ``FORWARDED_ALLOW_IPS``, by default 127.0.0.1 and ::1)."""
    wrapped = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1,::1")
    transport = httpx.ASGITransport(app=wrapped, client=(client_address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver")


async def test_hsts_when_the_request_came_over_tls(app: FastAPI) -> None:
    tls = {"X-Forwarded-Proto": "https"}
    async with _proxied(app, "127.0.0.1", "http") as local_proxy:
        assert "strict-transport-security" not in (await local_proxy.get("/login")).headers
        behind = await local_proxy.get("/login", headers=tls)
        assert behind.headers["strict-transport-security"] == "max-age=31536000"
    # a client that is not a trusted proxy cannot claim TLS
    async with _proxied(app, "203.0.113.9", "http") as stranger:
        claimed = await stranger.get("/login", headers=tls)
        assert claimed.status_code == 200
        assert "strict-transport-security" not in claimed.headers
    # TLS terminated by the server itself
    async with _proxied(app, "203.0.113.9", "https") as direct:
        assert "strict-transport-security" in (await direct.get("/login")).headers
        assert "strict-transport-security" in (await direct.get("/readyz")).headers


# --- rate limits ---------------------------------------------------------------------------

KNOBS = {
    "PARTNERHUB_RATE_LIMIT_PER_TOKEN": "rate_limit_per_token",
    "PARTNERHUB_RATE_LIMIT_PER_ADDRESS": "rate_limit_per_address",
    "PARTNERHUB_LOGIN_FAILURES_PER_WINDOW": "login_failures_per_window",
}


def test_rate_limit_knobs_are_settings_and_documented(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable, field in KNOBS.items():
        monkeypatch.setenv(variable, "7")
        assert getattr(Settings(data_dir=tmp_path), field) == 7, variable
        for doc in ("docs/configuration.md", "docs/security.md"):
            assert variable in (ROOT / doc).read_text(), f"{variable} is not in {doc}"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Limits from the environment, as an operator sets them."""
    monkeypatch.setenv("PARTNERHUB_RATE_LIMIT_PER_TOKEN", "3")
    monkeypatch.setenv("PARTNERHUB_RATE_LIMIT_PER_ADDRESS", "0")  # 0 = unlimited
    return Settings(data_dir=tmp_path, cookie_secure=True, admin_password="unused")


async def test_limits_from_the_environment_answer_429_with_retry_after(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    if datetime.now(UTC).second >= 55:  # counting windows are whole minutes
        await asyncio.sleep(61 - datetime.now(UTC).second)
    # failed authentications count against the address, which is unlimited here
    for _ in range(12):
        assert (
            await client.get("/v1/partner/templates", headers=bearer("ph_x"))
        ).status_code == 401
    token = bearer(await tenant.token("partnerhub:templates_read"))
    codes = [
        (await client.get("/v1/partner/templates", headers=token)).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 200]
    refused = await client.get("/v1/partner/templates", headers=token)
    assert_error(refused, 429, 1404)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


# --- secrets in texts that reach the logs ---------------------------------------------------


async def test_database_errors_do_not_carry_their_parameters(db: Database) -> None:
    """An unhandled database error is logged with its text (kit.web.classify_unhandled): the
    statement's bound values (a CSRF token, an email body with a link...) are left out."""
    from sqlalchemy import text

    secret = f"secret-{uuid.uuid4().hex}"
    with pytest.raises(Exception) as caught:
        async with db.transaction() as session:
            await session.execute(text("SELECT :v FROM no_such_table"), {"v": secret})
    assert "no_such_table" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)


def test_link_tokens_are_redacted_from_access_log_lines() -> None:
    lines = {
        '127.0.0.1 - "GET /account/set-password/abc.DEF-1_2 HTTP/1.1" 200': (
            '127.0.0.1 - "GET /account/set-password/[redacted] HTTP/1.1" 200'
        ),
        "/account/reset-password/tok?x=1": "/account/reset-password/[redacted]?x=1",
        "/consent/tok": "/consent/[redacted]",
        "/sso/oidc/p/callback?code=c0de&state=s7&x=1": (
            "/sso/oidc/p/callback?code=[redacted]&state=[redacted]&x=1"
        ),
        "/sso/saml/p/login?SAMLRequest=abc&RelayState=r": (
            "/sso/saml/p/login?SAMLRequest=[redacted]&RelayState=[redacted]"
        ),
        "/customers/abc?q=1": "/customers/abc?q=1",
    }
    for line, expected in lines.items():
        assert logsafe.redact(line) == expected


def test_log_level_trace_is_refused(tmp_path: Path) -> None:
    """uvicorn's ``trace`` level logs every request's headers (bearer tokens, cookies)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not one of debug, info, warning, error"):
        Settings(data_dir=tmp_path, log_level="trace")
    assert Settings(data_dir=tmp_path, log_level="DEBUG").log_level == "debug"
