from __future__ import annotations

import pytest

from partnerhub.db import Database
from tests.factories import Setup, Tenant, make_customer


@pytest.fixture
async def setup(db: Database, tenant: Tenant) -> Setup:
    """A provisioned customer (calling, meetings, suite) with its HQ location."""
    return await make_customer(db, tenant)
