"""Fixtures for the customers API tests: fast retries, a template, tokens, a worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from partnerhub.config import Settings
from tests.customers.helpers import READ, WRITE, running_worker
from tests.factories import Tenant, create_template


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Retries without waiting, so state-machine tests stay quick."""
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        provisioning_retries=3,
        provisioning_retry_seconds=0.0,
    )


@pytest.fixture
async def template(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    return await create_template(client, tenant)


@pytest.fixture
async def token(tenant: Tenant) -> str:
    return await tenant.token(WRITE)


@pytest.fixture
async def read_token(tenant: Tenant) -> str:
    return await tenant.token(READ)


@pytest.fixture
async def worker(app: Any) -> AsyncIterator[None]:
    async with running_worker():
        yield
