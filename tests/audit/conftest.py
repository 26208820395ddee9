"""Fixtures of the audit log's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from partnerhub.partners.service import org_id
from tests.factories import Tenant, bearer

AUDIT_READ = "audit:events_read"


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "to": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    }


async def audit_events(
    client: httpx.AsyncClient, token: str, org: str, **params: Any
) -> httpx.Response:
    return await client.get(
        "/v1/adminAudit/events",
        params={"orgId": org, **window(), **params},
        headers=bearer(token),
    )


def partner_org(tenant: Tenant) -> str:
    return org_id(tenant.partner)
