"""PartnerHub's own ``/openapi.json`` is a faithful description of the API (issue 11, item 4).

schemathesis runs over **every** ``/v1`` operation of the document the app serves (not the
vendor's file: ``tests/customers/test_schemathesis.py`` and the fuzzing suite cover that), on a
real ``partnerhub serve`` with its worker, with a token holding every scope, and applies every
check, the two about data included since the document is ours:

* ``positive_data_acceptance``: a request the document calls valid is not refused (2xx, or
  401/403/404, or 409 when the data conflicts with what exists: a taken name or e-mail);
* ``negative_data_rejection``: a request the document calls invalid is refused (4xx);
* ``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
  ``response_headers_conformance`` (``Location`` on the 201/202 that send it),
  ``response_schema_conformance`` (enums, required fields, no body where none is sent);
* every error body is the contract's shape (``engine.error_shape``).

The cases are aimed at real data made through the API (``engine.seed``) as in the fuzzing
suite, so that the success paths are checked too. The exclusions, with their reasons, are in
docs/api-compatibility.md ("PartnerHub's own OpenAPI document").
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jsonschema
import requests
import schemathesis
from schemathesis import DataGenerationMethod, GenerationConfig
from schemathesis.internal.checks import CheckConfig, CheckContext, PositiveDataAcceptanceConfig
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from tests.conftest import LiveServer, assert_error
from tests.factories import Tenant, bearer
from tests.reliability.fuzz import engine
from tests.reliability.fuzz.test_api_fuzz import _drain

POSITIVE = 2  # schema-valid cases per operation (modes mixed)
NEGATIVE = 1  # schema-invalid cases per operation
# A valid request may still conflict with what exists (a name or an e-mail already taken):
# 409 is the answer to the data's state, not to its shape.
ACCEPTED = PositiveDataAcceptanceConfig(allowed_statuses=["2xx", "401", "403", "404", "409"])


# Operations whose valid requests depend on more than the document can say (see
# docs/api-compatibility.md, "PartnerHub's own OpenAPI document"): every operation with a
# request body (its rules go beyond the JSON shape: e-mail addresses, catalog codes, E.164
# numbers, addresses by country, fields required together, references to other resources),
# the consent e-mail, sent only for a subscriber waiting for consent (400 otherwise), and the
# audit list, whose `from` and `to` must form a span the service accepts (`from` before `to`,
# within its limits), which a document's parameters cannot state.
STATE_DEPENDENT = {"/v1/wholesale/subscribers/{subscriber_id}/emails/consentMove"}
STATE_DEPENDENT |= {path.replace("/wholesale", "", 1) for path in STATE_DEPENDENT}
STATE_DEPENDENT.add("/v1/adminAudit/events")


def positive_data_accepted(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """schemathesis' ``positive_data_acceptance``, with 409 also allowed (above), for the
    operations whose every rule the document states."""
    if case.operation.body or case.operation.path in STATE_DEPENDENT:
        return None
    ctx.config = CheckConfig(positive_data_acceptance=ACCEPTED)
    return positive_data_acceptance(ctx, response, case)


def _only_undocumented_added(case: Any) -> bool:
    """Whether the case's query carries parameters the operation does not document and every
    documented one it carries is valid, its body and path too: unknown query parameters are
    ignored by design (vendor clients send their own; tests/customers/test_customers_list.py),
    which schemathesis' own exemption misses when a generated name is repeated."""
    meta = case.meta
    if meta is None or not isinstance(case.query, dict):
        return False
    # (schemathesis marks a location negative even when the operation has nothing there)
    if (case.operation.body and meta.body and meta.body.is_negative) or (
        case.operation.path_parameters and meta.path_parameters and meta.path_parameters.is_negative
    ):
        return False
    documented = {parameter.name: parameter for parameter in case.operation.query}
    if not set(case.query) - set(documented):
        return False
    return all(
        _valid_on_the_wire(documented[name].definition.get("schema", {}), value)
        for name, value in case.query.items()
        if name in documented
    )


def _valid_on_the_wire(schema: dict[str, Any], value: Any) -> bool:
    """Whether a query value is valid as the server reads it: the text ``"true"`` is sent
    as the boolean ``true`` is (a "negative" string where a boolean is documented is not)."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    if validator.is_valid(value):
        return True
    if isinstance(value, str):
        try:
            return validator.is_valid(json.loads(value))
        except ValueError:
            return False
    return False


def negative_data_refused(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """schemathesis' ``negative_data_rejection``, except for a case whose only invalid part
    is undocumented query parameters (above)."""
    if _only_undocumented_added(case):
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = (*engine.CHECKS, negative_data_refused, positive_data_accepted)


def _report(stats: engine.Stats) -> str:
    """Every failure, one paragraph each: operation, status, what failed, how to reproduce."""
    lines = [stats.summary()]
    for failure in stats.failures:
        what = " / ".join(
            line.strip() for line in failure.message.splitlines() if line.strip()[:1].isdigit()
        )
        body = next((ln.strip() for ln in failure.message.splitlines() if "`" in ln), "")
        lines += [f"--- {failure.operation} [{failure.status}] {what}", body[:300]]
        lines.append(f"    {failure.curl[:2000]}")
    return "\n".join(lines)


def _fuzz(base_url: str, token: str, seed: engine.Seed) -> engine.Stats:
    schemathesis.experimental.OPEN_API_3_1.enable()
    raw = requests.get(f"{base_url}/openapi.json", timeout=30).json()
    methods = [DataGenerationMethod.positive, DataGenerationMethod.negative]
    schema = schemathesis.from_dict(
        raw,
        base_url=base_url,
        data_generation_methods=methods,
        # The token is the test's: a generated Authorization header is no data to judge.
        generation_config=GenerationConfig(with_security_parameters=False),
    )
    stats = engine.Stats()
    session = requests.Session()
    for operation in engine.operations(schema):
        engine.fuzz_operation(
            operation,
            token,
            seed,
            stats,
            POSITIVE,
            session=session,
            negative_examples=NEGATIVE,
            checks=CHECKS,
            aim_negative=False,
        )
    return stats


async def test_every_operation_of_the_own_document_passes_every_check(
    live_server: LiveServer, tenant: Tenant, db: Database
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    seed = await asyncio.to_thread(engine.seed, live_server.url, token)

    stats = await asyncio.to_thread(_fuzz, live_server.url, token, seed)

    await _drain(db)
    assert not stats.failures, _report(stats)
    async with httpx.AsyncClient() as http:
        paths = (await http.get(f"{live_server.url}/openapi.json")).json()["paths"]
    expected = {
        f"{m.upper()} {p}" for p, item in paths.items() for m in item if p.startswith("/v1")
    }
    assert expected <= set(stats.by_operation), sorted(expected - set(stats.by_operation))


async def test_a_repeated_single_value_query_parameter_is_a_400(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    for path in ("/v1/wholesale/customers?max=1&max=2", "/v1/locations?orgId=a&orgId=b"):
        response = await client.get(path, headers=bearer(token))
        body = assert_error(response, 400, 1003)
        assert "given more than once" in body["message"], body
    # A parameter given once, and one the document lists as an array, are not refused.
    assert (await client.get("/v1/wholesale/customers?max=1", headers=bearer(token))).is_success
