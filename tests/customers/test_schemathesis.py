"""schemathesis against the vendor's published OpenAPI file, for the customer and sub-partner
operations, on a real ``partnerhub serve``: no 5xx, and every response conforms (status code,
content type, headers, body schema). Its ``positive_data_acceptance`` check is not used (the
spec is looser than the real rules, see specs/README.md; schemathesis 3 does not
run it anyway)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import LiveServer, bearer
from tests.customers.helpers import SUB_READ, WRITE
from tests.factories import Tenant, create_template, customer_body

SPEC = Path(__file__).resolve().parents[2] / "specs" / "webex-wholesale.json"
PATHS = {
    "/wholesale/customers",
    "/wholesale/customers/{customerId}",
    "/wholesale/customers/validate",
    "/wholesale/subPartners",
}
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
EXAMPLES = 25  # per operation: the whole run stays well under a minute


def _fuzz(base_url: str, token: str, provisioning_id: str, customer_ids: list[str]) -> int:
    raw = json.loads(SPEC.read_text())
    raw["paths"] = {p: v for p, v in raw["paths"].items() if p in PATHS}
    schema = schemathesis.from_dict(raw, base_url=f"{base_url}/v1")
    session = requests.Session()
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(), real=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def check(case: Any, real: bool) -> None:
            nonlocal calls
            # Half the cases aim at real data, so the success paths are fuzzed too.
            if real and case.path_parameters and "customerId" in case.path_parameters:
                case.path_parameters["customerId"] = customer_ids[calls % len(customer_ids)]
            if real and isinstance(case.body, dict) and "provisioningId" in case.body:
                case.body["provisioningId"] = provisioning_id
            response = case.call(session=session, headers=bearer(token), timeout=30)
            calls += 1
            case.validate_response(response, checks=CHECKS)

        check()
    return calls


async def test_customer_operations_conform_to_the_published_spec(
    live_server: LiveServer, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    template = await create_template(client, tenant)
    token = await tenant.token(WRITE, SUB_READ)
    customer_ids = []
    for n in range(3):
        response = await client.post(
            "/v1/wholesale/customers",
            json=customer_body(template["provisioningId"], f"fuzz-{n}"),
            headers=bearer(token),
        )
        assert response.status_code == 202, response.text
        customer_ids.append(response.headers["Location"].rsplit("/", 1)[1])
    calls = await asyncio.to_thread(
        _fuzz, live_server.url, token, template["provisioningId"], customer_ids
    )
    assert calls >= 6 * EXAMPLES // 2
