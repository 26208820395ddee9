"""Fixtures for the set-up page's CSV import and installation assistance tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from partnerhub.db import Database
from tests.customers.helpers import running_worker
from tests.factories import Setup, Tenant, make_customer, number


@pytest.fixture
async def setup(db: Database, tenant: Tenant) -> Setup:
    """A provisioned customer (calling, meetings, suite) whose HQ has five numbers."""
    return await make_customer(db, tenant, numbers=[number(i) for i in range(1, 6)])


@pytest.fixture
async def worker(app: Any) -> AsyncIterator[None]:
    async with running_worker():
        yield
