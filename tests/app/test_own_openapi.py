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


# What the document cannot state, as narrow as it can be named (docs/api-compatibility.md,
# "Where `positive_data_acceptance` is not applied, and why"): per operation, (field, what
# the refusal says). A 400 whose every error is one of its operation's entries is the answer
# to the data's state (another resource, today's date), not to its shape; any other 400 to a
# request the document calls valid fails the check.
_CONSENT = (("the subscriber is", "the consent email is only for pending_user_migration"),)
_SUBSCRIBER = (
    ("package: ", "is not one of the customer's packages"),  # the customer's packages
    ("package: ", "limit"),  # the customer's package limits and their use
    ("provisioningParameters.primaryPhoneNumber: ", ""),  # the customer's inventory
    ("provisioningParameters.locationId: ", ""),  # a location of the customer
)
_NUMBERS = (("phoneNumbers[", ""),)  # numbering plans and the inventories
_ADDRESS = (  # the address rules by country (catalog.geo)
    ("address.stateOrProvince", "country"),
    ("address.zipOrPostalCode", "country"),
    ("provisioningParameters.calling.location.address.stateOrProvince", "country"),
    ("provisioningParameters.calling.location.address.zipOrPostalCode", "country"),
)
_CUSTOMER = (
    *_ADDRESS,
    ("packages: ", "needs one of"),  # a package's dependency
    ("provisioningParameters.calling.location: ", "is required with calling packages"),
    ("provisioningParameters.calling.location.numbers[", ""),  # numbering plans
    ("provisioningParameters.calling.location.mainNumber: ", ""),
    ("provisioningParameters.packages.limits.", "is not one of the customer's packages"),
    ("orgId: ", "is not an organization id"),  # a reference, not a shape
)
_LOCATION = (
    ("address.state", "country"),
    ("address.postalCode", "country"),
    ("timeZone: ", "is not a time zone of country"),
    ("mainNumber: ", ""),  # the location's inventory
)
_TEMPLATE = (
    ("serviceProviderAdminEmail: ", "is not an administrator of this partner"),
    ("pstnProvider: ", "is not one of this partner's PSTN providers"),
    ("authentication.idpEntityId: ", "is not one of this partner's"),
    ("authentication.oidcIdpName: ", "is not one of this partner's"),
    ("email.allowPlatformCalling: ", "only when both the wholesale and the hosted-calling"),
)
_PROVIDER = tuple(  # what is read from the IdP (metadata, discovery), the fields of a type
    (f"{name}: ", "")
    for name in (
        *("metadataXml", "metadataUrl", "displayName", "emailAttribute"),
        *("name", "issuer", "clientId", "clientSecret", "discoveryUrl", "scopes"),
    )
)
UNSTATED: dict[str, tuple[tuple[str, str], ...]] = {
    "POST /v1/wholesale/subscribers": _SUBSCRIBER,
    "POST /v1/wholesale/subscribers/validate": _SUBSCRIBER,
    "PUT /v1/wholesale/subscribers/{subscriber_id}": _SUBSCRIBER,
    "POST /v1/wholesale/subscribers/{subscriber_id}/emails/consentMove": _CONSENT,
    "POST /v1/subscribers/{subscriber_id}/emails/consentMove": _CONSENT,
    "POST /v1/wholesale/customers": _CUSTOMER,
    "POST /v1/wholesale/customers/validate": _CUSTOMER,
    "PUT /v1/wholesale/customers/{customer_id}": (
        *_CUSTOMER,
        ("customerInfo", "cannot change"),  # accepted only unchanged
        ("provisioningId: ", "cannot change"),
    ),
    "POST /v1/partner/templates": _TEMPLATE,
    "POST /v1/wholesale/subPartners": (("billingStartDate: ", "before 1970"),),
    "PUT /v1/partner/templates/{template_id}": _TEMPLATE,
    # the dates' span: end before today, within five years, start not after end
    "POST /v1/wholesale/billing/reports": (("billingStartDate", ""), ("billingEndDate", "")),
    # orgId may be given in the query instead of the body
    "POST /v1/locations": (*_LOCATION, ("orgId: ", "is required")),
    "PUT /v1/locations/{location_id}": _LOCATION,
    "POST /v1/telephony/config/locations/{location_id}/numbers": _NUMBERS,
    "DELETE /v1/telephony/config/locations/{location_id}/numbers": _NUMBERS,
    "POST /v1/partner/identityProviders": _PROVIDER,
    "PUT /v1/partner/identityProviders/{provider_id}": _PROVIDER,
    "POST /v1/partner/customers/{customer_id}/installationRequests": (("phone: ", ""),),
    # the CSV file's columns and rows (a file format, not JSON)
    "POST /v1/partner/customers/{customer_id}/imports": (("csv: ", ""),),
    "POST /v1/webhooks": (("filter: ", ""),),  # ids of the partner's customers, sub-partners
    # a cursor this feed gave; a span `from` before `to`, at most a year
    "GET /v1/events": (("after: ", "not a cursor this feed gave"),),
    "GET /v1/adminAudit/events": (("from", ""), ("to", "")),
}


def _unstated(case: Any, response: Any) -> bool:
    """Whether ``response`` is a 400 whose every error is one the document cannot state."""
    allowed = UNSTATED.get(case.operation.verbose_name)
    if not allowed or response.status_code != 400:
        return False
    errors = json.loads(response.content)["errors"]
    return all(
        any(
            error["description"].startswith(name) and says in error["description"]
            for name, says in allowed
        )
        for error in errors
    )


def positive_data_accepted(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """schemathesis' ``positive_data_acceptance``, with 409 also allowed (above), except for
    the refusals the document cannot state (:data:`UNSTATED`)."""
    if _unstated(case, response):
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
