"""Fixtures for the customer set-up pages: a provisioned customer with numbers."""

from __future__ import annotations

import pytest

from partnerhub.db import Database
from tests.factories import Setup, Tenant, make_customer, number


@pytest.fixture
async def setup(db: Database, tenant: Tenant) -> Setup:
    """A provisioned customer (calling, meetings, suite) whose HQ has five numbers."""
    return await make_customer(db, tenant, numbers=[number(i) for i in range(1, 6)])
