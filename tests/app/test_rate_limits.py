"""Rate limits per token and per client address (counters in PostgreSQL), sign-in throttling."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from partnerhub.config import Settings
from tests.conftest import assert_error, bearer, csrf_of
from tests.factories import Tenant, make_tenant


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        data_dir=tmp_path,
        rate_limit_per_token=5,
        rate_limit_per_address=8,
        login_failures_per_window=3,
    )


@pytest.fixture(autouse=True)
async def fresh_window() -> None:
    """Counting windows are whole minutes: start each test well inside one."""
    import asyncio
    from datetime import UTC, datetime

    second = datetime.now(UTC).second
    if second >= 45:
        await asyncio.sleep(60 - second + 0.5)


@pytest.fixture
async def limited(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


async def test_token_limit_answers_429_with_retry_after(
    limited: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = bearer(await tenant.token("partnerhub:templates_read"))
    statuses = [
        (await limited.get("/v1/partner/templates", headers=token)).status_code for _ in range(5)
    ]
    assert statuses == [200] * 5
    refused = await limited.get("/v1/partner/templates", headers=token)
    assert_error(refused, 429, 1404)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another token of the same client still has its own budget (the address allows 8).
    other = bearer(await tenant.token("partnerhub:templates_read"))
    assert (await limited.get("/v1/partner/templates", headers=other)).status_code == 200


async def test_address_limit_counts_failed_authentications(
    limited: httpx.AsyncClient, app: FastAPI
) -> None:
    for _ in range(8):
        assert (
            await limited.get("/v1/partner/templates", headers=bearer("ph_guess"))
        ).status_code == 401
    refused = await limited.get("/v1/partner/templates", headers=bearer("ph_guess"))
    assert_error(refused, 429, 1404)
    assert "Retry-After" in refused.headers


async def test_counters_are_shared_by_processes(
    app: FastAPI, tenant: Tenant, settings: Settings
) -> None:
    """Two app instances (as two processes would) share one budget through PostgreSQL."""
    from partnerhub.app import create_app

    token = bearer(await tenant.token("partnerhub:templates_read"))
    second = create_app(settings, app.state.database_url)
    first_transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
    second_transport = httpx.ASGITransport(app=second, client=("10.9.9.9", 1))
    async with second.router.lifespan_context(second):
        async with (
            httpx.AsyncClient(transport=first_transport, base_url="https://a") as a,
            httpx.AsyncClient(transport=second_transport, base_url="https://b") as b,
        ):
            codes = []
            for i in range(6):
                client = a if i % 2 == 0 else b
                codes.append((await client.get("/v1/partner/templates", headers=token)).status_code)
    assert codes == [200, 200, 200, 200, 200, 429]


async def test_login_throttling(limited: httpx.AsyncClient, db: object) -> None:
    tenant = await make_tenant(db, "Throttle")  # type: ignore[arg-type]
    page = await limited.get("/login")
    csrf = csrf_of(page.text)
    for _ in range(3):
        wrong = await limited.post(
            "/login", data={"csrf_token": csrf, "email": tenant.admin.email, "password": "nope"}
        )
        assert wrong.status_code == 401
    # Even the right password is refused while throttled, with a clear page.
    blocked = await limited.post(
        "/login",
        data={"csrf_token": csrf, "email": tenant.admin.email, "password": tenant.password},
    )
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60  # until the minute's count ends
    assert "Too many failed sign-ins" in blocked.text
