"""schemathesis against the vendor's published OpenAPI file, for the four billing report
operations, on a real ``partnerhub serve`` with its worker: no 5xx, and every response conforms
(status code, content type, headers, body schema). Half the cases aim at a real report of the
caller, or at valid dates, so the success paths are fuzzed too."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from partnerhub.billing import service
from partnerhub.db import Database
from tests.billing.conftest import WRITE
from tests.conftest import LiveServer, Tenant, bearer, make_tenant
from tests.customers.test_schemathesis import CHECKS

SPEC = Path(__file__).resolve().parents[2] / "specs" / "webex-wholesale.json"
PATHS = {"/wholesale/billing/reports", "/wholesale/billing/reports/{id}"}
EXAMPLES = 25


def _fuzz(base_url: str, token: str, report_ids: list[str]) -> int:
    raw = json.loads(SPEC.read_text())
    raw["paths"] = {p: v for p, v in raw["paths"].items() if p in PATHS}
    schema = schemathesis.from_dict(raw, base_url=f"{base_url}/v1")
    session = requests.Session()
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(), real=st.booleans(), back=st.integers(1, 1500))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def check(case: Any, real: bool, back: int) -> None:
            nonlocal calls
            if real and case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = report_ids[calls % len(report_ids)]
            if real and isinstance(case.body, dict):
                day = service.today() - timedelta(days=back)
                case.body["billingStartDate"] = day.isoformat()
                case.body["billingEndDate"] = day.isoformat()
                case.body.pop("subPartnerOrgId", None)
            response = case.call(session=session, headers=bearer(token), timeout=30)
            calls += 1
            case.validate_response(response, checks=CHECKS)

        check()
    return calls


async def test_billing_operations_conform_to_the_published_spec(
    live_server: LiveServer, live_db: Database
) -> None:
    tenant: Tenant = await make_tenant(live_db, "Fuzz")
    token = await tenant.token(WRITE)
    report_ids = []
    with requests.Session() as session:
        for kind in ("PARTNER", "USER"):
            response = session.post(
                f"{live_server.url}/v1/wholesale/billing/reports",
                json={
                    "billingStartDate": (service.today() - timedelta(days=40)).isoformat(),
                    "billingEndDate": (service.today() - timedelta(days=10)).isoformat(),
                    "type": kind,
                },
                headers=bearer(token),
                timeout=30,
            )
            assert response.status_code == 200, (
                f"{response.text}\n--- the server's log:\n{live_server.unhandled()}"
            )
            report_ids.append(response.json()["id"])
    try:
        calls = await asyncio.to_thread(_fuzz, live_server.url, token, report_ids)
    except Exception as exc:  # the server's own account of a 500, beside the client's
        raise AssertionError(f"{exc}\n--- the server's log:\n{live_server.unhandled()}") from exc
    assert calls >= 4 * EXAMPLES // 2
