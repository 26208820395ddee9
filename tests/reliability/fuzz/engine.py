"""The API fuzzing engine shared by the in-suite tests and ``bench/fuzz.py`` (longer run).

schemathesis generates requests (schema-valid and schema-invalid) for every operation of the
vendor's published spec (``specs/webex-wholesale.json``) and of PartnerHub's own
``/openapi.json`` restricted to the hub-only operations, sends them to a running server, and
applies these checks to every response:

* no 5xx (``not_a_server_error``);
* the status code, content type, headers and body conform to the operation's documented
  responses (schemathesis' conformance checks; ``positive_data_acceptance`` is not used, see
  ``specs/README.md``);
* every 4xx (and 5xx) body is the contract's error shape ``{message, errors[{description,
  errorCode}], trackingId}``, ``message`` repeating the first description and ``trackingId``
  the ``TrackingID`` header (CONTRACT.md section 1).

Two thirds of the cases are aimed at real data (templates, a provisioned customer with
locations, numbers and subscribers, a customer held for approval..., made by :func:`seed`
through the API; without the generated headers, which the HTTP parser would often refuse),
and half of those carry a valid body with one generated field, so that the success paths and
the rules behind the first validation step run too, not only the 404s and 400s. Operations
that delete run after all the others, innermost resources first.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import DataGenerationMethod
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.internal.checks import CheckContext
from schemathesis.models import APIOperation, Case
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema
from schemathesis.utils import SkipTest

from partnerhub.catalog.roles import ALL_SCOPES

SPEC = Path(__file__).resolve().parents[3] / "specs" / "webex-wholesale.json"
US_ADDRESS = {
    "addressLine1": "771 Alder Drive",
    "city": "Milpitas",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "95035",
    "country": "US",
}


def error_shape(ctx: CheckContext, response: Any, case: Case) -> bool | None:
    """A 4xx/5xx answer carries the contract's error body (CONTRACT.md section 1)."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"error with Content-Type {ctype!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"error body is not JSON: {response.text[:200]!r}") from None
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert set(body) == {"message", "errors", "trackingId"}, f"error body keys: {sorted(body)}"
    errors = body["errors"]
    assert isinstance(errors, list) and errors, "errors is not a non-empty list"
    for item in errors:
        assert isinstance(item, dict) and set(item) == {"description", "errorCode"}, item
        assert isinstance(item["description"], str) and item["description"], item
        assert isinstance(item["errorCode"], int) and not isinstance(item["errorCode"], bool)
    assert body["message"] == errors[0]["description"], "message != errors[0].description"
    assert body["trackingId"] == response.headers.get("TrackingID"), "trackingId != header"
    return None


CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_shape,
)


# --- seed data ---------------------------------------------------------------------------


@dataclass
class Seed:
    """Real resources of the fuzzing partner, by the parameter names that refer to them."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(ALIASES.get(name, name))


ALIASES = {
    "customer_id": "customerId",
    "subscriber_id": "subscriberId",
    "location_id": "locationId",
    "template_id": "templateId",
    "admin_id": "adminId",
    "person_id": "personId",
    "import_id": "importId",
    "provider_id": "providerId",
    "org_id": "subPartnerOrgId",  # /v1/wholesale/subPartners/{org_id}
    "primaryPhoneNumber": "number",
}


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.request.url, response.text)
    return response.json() if response.content else {}


def seed(base_url: str, token: str, within: float = 60.0) -> Seed:
    """Create, through the API, what the fuzzed operations can reach: a template, a
    provisioned customer with an HQ location and a second location, numbers, a meetings
    subscriber and a calling subscriber, an import, an installation request. Needs a worker
    running (customers are provisioned in the background)."""
    tag = uuid.uuid4().hex[:8]
    # Numbers are unique across partners: each seed takes its own two blocks of 100 (area
    # 408): the first in the HQ inventory; of the second, 90-99 in the second location's (for
    # the cases that remove numbers), 00-89 for the cases that add numbers.
    exchange, hundred = random.randint(200, 999), random.randint(1, 98)
    block, fresh = f"+1408{exchange}{hundred:02d}", f"+1408{exchange}{hundred + 1:02d}"
    with httpx.Client(
        base_url=f"{base_url}/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        partner_admins = _ok(http.get("/partner/administrators"), 200)["items"]
        template = _ok(
            http.post(
                "/partner/templates",
                json={
                    "name": f"Fuzz template {tag}",
                    "offer": "wholesale",
                    "serviceProviderAdminEmail": partner_admins[0]["email"],
                    "country": "US",
                    "defaultEmailLanguage": "en_US",
                    "wholesaleSubscriptionId": "Sub-fuzz",
                    "authentication": {"method": "platform"},
                    "email": {"brandName": "Fuzz Cloud", "allowAdminInviteOnLink": False},
                },
            ),
            201,
        )
        approval, spare = (
            _ok(
                http.post(
                    "/partner/templates",
                    json={
                        "name": f"Fuzz {kind} template {tag}",
                        "serviceProviderAdminEmail": partner_admins[0]["email"],
                        "country": "US",
                        "defaultEmailLanguage": "en_US",
                        "wholesaleSubscriptionId": "Sub-fuzz",
                        "email": {"brandName": "Fuzz Cloud"},
                        "requireApproval": kind == "approval",
                    },
                ),
                201,
            )
            for kind in ("approval", "spare")
        )
        held = http.post(
            "/wholesale/customers",
            json={
                "provisioningId": approval["provisioningId"],
                "packages": ["webex_meetings"],
                "externalId": f"fuzz-held-{tag}",
                "address": US_ADDRESS,
                "customerInfo": {"name": f"Held {tag}", "primaryEmail": f"held-{tag}@fuzz.example"},
            },
        )
        _ok(held, 202)
        created = http.post(
            "/wholesale/customers",
            json={
                "provisioningId": template["provisioningId"],
                "packages": ["webex_calling", "webex_meetings", "webex_suite"],
                "externalId": f"fuzz-{tag}",
                "address": US_ADDRESS,
                "customerInfo": {
                    "name": f"Fuzz {tag}",
                    "primaryEmail": f"admin-{tag}@fuzz.example",
                },
                "provisioningParameters": {
                    "calling": {
                        "location": {
                            "name": "Headquarters",
                            "address": US_ADDRESS,
                            "timezone": "America/Los_Angeles",
                            "language": "en_US",
                        }
                    }
                },
            },
        )
        _ok(created, 202)
        customer_id = created.headers["Location"].rsplit("/", 1)[1]
        deadline = time.monotonic() + within
        while True:
            customer = _ok(http.get(f"/wholesale/customers/{customer_id}"), 200)
            if customer["status"] == "provisioned":
                break
            assert time.monotonic() < deadline, f"seed customer not provisioned: {customer}"
            time.sleep(0.1)
        org_id = customer["orgId"]
        hq = _ok(http.get("/locations", params={"orgId": org_id}), 200)["items"][0]
        second = _ok(
            http.post(
                "/locations",
                json={
                    "orgId": org_id,
                    "name": "Branch",
                    "timeZone": "America/Los_Angeles",
                    "preferredLanguage": "en_US",
                    "address": {
                        "address1": "1 Main St",
                        "city": "Milpitas",
                        "state": "CA",
                        "postalCode": "95035",
                        "country": "US",
                    },
                },
            ),
            201,
        )
        _ok(
            http.post(
                f"/telephony/config/locations/{hq['id']}/numbers",
                json={"phoneNumbers": [f"{block}00..99"], "numberType": "DID", "state": "ACTIVE"},
            ),
            201,
        )
        _ok(  # the second location's, for the cases that remove numbers
            http.post(
                f"/telephony/config/locations/{second['id']}/numbers",
                json={"phoneNumbers": [f"{fresh}90..99"], "numberType": "DID", "state": "ACTIVE"},
            ),
            201,
        )
        meetings = _ok(
            http.post(
                "/wholesale/subscribers",
                json={
                    "customerId": customer_id,
                    "email": f"meet-{tag}@fuzz.example",
                    "package": "webex_meetings",
                },
            ),
            200,
        )
        _ok(
            http.post(
                "/wholesale/subscribers",
                json={
                    "customerId": customer_id,
                    "email": f"call-{tag}@fuzz.example",
                    "package": "webex_calling",
                    "provisioningParameters": {
                        "firstName": "Ada",
                        "lastName": "Calling",
                        "primaryPhoneNumber": f"{block}01",
                    },
                },
            ),
            200,
        )
        admins = _ok(http.get(f"/partner/customers/{customer_id}/administrators"), 200)
        imported = _ok(
            http.post(
                f"/partner/customers/{customer_id}/imports",
                content=f"email,package\nimp-{tag}@fuzz.example,webex_meetings\n",
                headers={"Content-Type": "text/csv"},
            ),
            202,
        )
        sub_partner = _ok(
            http.post(
                "/wholesale/subPartners",
                json={
                    "name": f"Fuzz reseller {tag}",
                    "administrator": {"email": f"reseller-{tag}@fuzz.example"},
                },
            ),
            201,
        )
        request = _ok(
            http.post(
                f"/partner/customers/{customer_id}/installationRequests",
                json={"contactName": "Ada", "contactEmail": f"ada-{tag}@fuzz.example"},
            ),
            201,
        )
    values = {
        "provisioningId": template["provisioningId"],
        "templateId": template["id"],
        "customerId": customer_id,
        "externalId": f"fuzz-{tag}",
        "orgId": org_id,
        "locationId": second["id"],
        "hqLocationId": hq["id"],
        "number": f"{block}50",
        "subscriberId": meetings["id"],
        "personId": admins["items"][0]["personId"] if admins.get("items") else "",
        "adminId": partner_admins[0]["id"],
        "importId": imported["id"],
        "requestId": request["id"],
        "subPartnerOrgId": sub_partner["orgId"],
        "email": f"new-{tag}@fuzz.example",
        "adminEmail": partner_admins[0]["email"],
        "pendingCustomerId": held.headers["Location"].rsplit("/", 1)[1],
        "spareTemplateId": spare["id"],  # no customer: the DELETE cases may remove it
        "block": block,
        "freshBlock": fresh,
        "tag": tag,
    }
    return Seed({k: v for k, v in values.items() if v})


# --- schemas -----------------------------------------------------------------------------


def _normalized(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/v1"))


def vendor_schema(base_url: str, methods: list[DataGenerationMethod]) -> BaseOpenAPISchema:
    """Every operation of the published spec, served under ``/v1``."""
    raw = json.loads(SPEC.read_text())
    return schemathesis.from_dict(raw, base_url=f"{base_url}/v1", data_generation_methods=methods)


def hub_schema(base_url: str, methods: list[DataGenerationMethod]) -> BaseOpenAPISchema:
    """PartnerHub's own ``/openapi.json``, without the operations the vendor spec covers."""
    schemathesis.experimental.OPEN_API_3_1.enable()
    raw = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    raw["paths"] = hub_only(raw["paths"])
    return schemathesis.from_dict(raw, base_url=base_url, data_generation_methods=methods)


def vendor_operations() -> set[tuple[str, str]]:
    """(METHOD, path under /v1) of every operation of the published spec."""
    paths = json.loads(SPEC.read_text())["paths"]
    return {(m.upper(), f"/v1{p}") for p, item in paths.items() for m in item}


def hub_only(paths: dict[str, Any]) -> dict[str, Any]:
    """The operations of a PartnerHub OpenAPI ``paths`` object the vendor spec lacks."""
    covered = {(m, _normalized(p)) for m, p in vendor_operations()}
    kept: dict[str, Any] = {}
    for path, item in paths.items():
        ops = {m: op for m, op in item.items() if (m.upper(), _normalized(path)) not in covered}
        if ops:
            kept[path] = ops
    return kept


# --- running -----------------------------------------------------------------------------


@dataclass
class Failure:
    operation: str
    status: int
    message: str
    curl: str


@dataclass
class Stats:
    cases: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    statuses_by_operation: dict[str, set[int]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    unsatisfiable: list[str] = field(default_factory=list)

    def summary(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.cases} cases over {len(self.by_operation)} operations; "
            f"statuses {{{statuses}}}; {len(self.failures)} failures"
        )


def _address() -> dict[str, str]:
    return dict(US_ADDRESS)


def _customer(s: Seed, n: int) -> dict[str, Any]:
    return {
        "provisioningId": s.get("provisioningId"),
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": f"fz-{s.get('tag')}-{n}",
        "address": _address(),
        "customerInfo": {"name": f"Fuzz {n}", "primaryEmail": f"c{n}-{s.get('tag')}@fuzz.example"},
        "provisioningParameters": {
            "calling": {
                "location": {
                    "name": "HQ",
                    "address": _address(),
                    "timezone": "America/Los_Angeles",
                    "language": "en_US",
                }
            }
        },
    }


def _location(s: Seed, n: int) -> dict[str, Any]:
    return {
        "orgId": s.get("orgId"),
        "name": f"Site {n}",
        "timeZone": "America/Los_Angeles",
        "preferredLanguage": "en_US",
        "address": {
            "address1": "1 Main St",
            "city": "Milpitas",
            "state": "CA",
            "postalCode": "95035",
            "country": "US",
        },
    }


def _template(s: Seed, n: int) -> dict[str, Any]:
    return {
        "name": f"Fuzz template {s.get('tag')} {n}",
        "offer": "wholesale",
        "serviceProviderAdminEmail": s.get("adminEmail"),
        "country": "US",
        "defaultEmailLanguage": "en_US",
        "wholesaleSubscriptionId": "Sub-fuzz",
        "authentication": {"method": "platform"},
        "email": {"brandName": "Fuzz Cloud", "allowAdminInviteOnLink": False},
    }


def _email(s: Seed, n: int, kind: str) -> str:
    return f"{kind}{n}-{s.get('tag')}@fuzz.example"


# A valid body per operation (method, path without /v1, parameters as {}): "one field" cases
# start from it and replace a single top-level field with the generated value, so that each
# rule behind the first validation step is reached too.
VALID_BODIES: dict[tuple[str, str], Callable[[Seed, int], Any]] = {
    ("POST", "/wholesale/customers"): _customer,
    ("POST", "/wholesale/customers/validate"): _customer,
    ("PUT", "/wholesale/customers/{}"): lambda s, n: {
        "packages": ["webex_calling", "webex_meetings", "webex_suite"],
        "address": _address(),
    },
    ("POST", "/wholesale/subscribers"): lambda s, n: {
        "customerId": s.get("customerId"),
        "email": _email(s, n, "sub"),
        "package": "webex_meetings",
    },
    ("POST", "/wholesale/subscribers/validate"): lambda s, n: {
        "customerId": s.get("customerId"),
        "email": _email(s, n, "pre"),
    },
    ("PUT", "/wholesale/subscribers/{}"): lambda s, n: {"package": "webex_meetings"},
    ("POST", "/partner/templates"): _template,
    ("PUT", "/partner/templates/{}"): _template,
    ("POST", "/partner/administrators"): lambda s, n: {
        "email": _email(s, n, "adm"),
        "displayName": f"Admin {n}",
        "role": "read_only",
        "password": f"fuzz-password-{n:06d}",
    },
    ("PUT", "/partner/administrators/{}"): lambda s, n: {"displayName": f"Admin {n}"},
    ("PUT", "/partner/settings"): lambda s, n: {
        "name": "Fuzz partner",
        "pstnProviders": ["PSTN Co"],
        "offers": {"wholesale": True, "hostedCalling": False},
    },
    ("POST", "/locations"): _location,
    ("PUT", "/locations/{}"): _location,
    ("POST", "/telephony/config/locations/{}/numbers"): lambda s, n: {
        "phoneNumbers": [f"{s.get('freshBlock')}{n % 90:02d}"],
        "numberType": "DID",
        "state": "ACTIVE",
    },
    ("DELETE", "/telephony/config/locations/{}/numbers"): lambda s, n: {
        "phoneNumbers": [f"{s.get('freshBlock')}{90 + n % 10}"]
    },
    ("PUT", "/partner/customers/{}/administrators/{}/roles"): lambda s, n: {
        "roles": ["full_admin"]
    },
    ("POST", "/partner/customers/{}/imports"): lambda s, n: {
        "csv": f"email,package\n{_email(s, n, 'imp')},webex_meetings\n",
        "dryRun": True,
    },
    ("POST", "/partner/customers/{}/installationRequests"): lambda s, n: {
        "contactName": f"Contact {n}",
        "contactEmail": _email(s, n, "inst"),
    },
}


# Fields of which a body carries one only (the subscriber's ``package`` or ``packages``): a
# generated one replaces its partner in the valid body, or the body would carry both and no
# longer be the valid body it stands for (a "positive" case the document calls invalid).
EXCLUSIVE = {"package": "packages", "packages": "package"}


def _one_field(case: Case, seed_data: Seed, pick: int, n: int) -> None:
    """Replace the generated body by a valid one carrying one generated top-level field."""
    make = VALID_BODIES.get((case.operation.method.upper(), _normalized(case.operation.path)))
    if make is None or case.media_type not in (None, "application/json"):
        return
    base = make(seed_data, n)
    generated = case.body
    if isinstance(generated, dict):
        if generated:
            key = sorted(generated)[pick % len(generated)]
            if generated[key] is not None:
                base.pop(EXCLUSIVE.get(key, ""), None)
            base[key] = generated[key]
        case.body = base
    elif generated is None or pick % 4 == 0:
        case.body = base  # otherwise keep the generated non-object body


def _aim(case: Case, seed_data: Seed) -> None:
    """Point the case's ids (path, query, body) at the seeded resources; act for oneself
    (a generated sub-partner id is a 404 before anything else is looked at)."""
    if isinstance(case.query, dict):
        case.query.pop("onBehalfOfSubPartnerOrgId", None)
    # No operation declares a header: generated ones (control characters...) would stop the
    # request at the HTTP parser; the "generated" mode keeps them.
    case.headers = None
    for params in (case.path_parameters, case.query):
        if not isinstance(params, dict):
            continue
        for name in list(params):
            value = seed_data.get(name)
            if value is not None:
                params[name] = value
    path = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if case.operation.path.endswith("/approve") and "customer_id" in path:
        path["customer_id"] = seed_data.values["pendingCustomerId"]  # held for approval
    if case.operation.method.upper() == "DELETE" and "template_id" in path:
        path["template_id"] = seed_data.values["spareTemplateId"]  # the seed one is in use
    body = case.body
    if isinstance(body, dict):
        for name in ("provisioningId", "customerId", "orgId", "locationId", "externalId"):
            if name in body and seed_data.get(name):
                body[name] = seed_data.get(name)
        params = body.get("provisioningParameters")
        if isinstance(params, dict):
            for name in ("locationId", "primaryPhoneNumber"):
                if name in params and seed_data.get(name):
                    params[name] = seed_data.get(name)


# Deletions run last, innermost resources first, so that each still finds its seed resource.
DELETE_ORDER = ("subscribers", "numbers", "identityProviders", "customers", "templates")


def _order(op: APIOperation) -> tuple[int, int]:
    if op.method.upper() != "DELETE":
        return (0, 0)
    rank = next((i for i, word in enumerate(DELETE_ORDER) if word in op.path), len(DELETE_ORDER))
    return (1, rank)


def operations(*schemas: BaseOpenAPISchema) -> list[APIOperation]:
    """All operations of the schemas; those that delete come last (they consume the seed)."""
    found = [result.ok() for schema in schemas for result in schema.get_all_operations()]
    return sorted(found, key=_order)


# "generated": as schemathesis made it; "aimed": ids pointed at the seed; "one field": aimed,
# and the body is a valid one with a single generated field.
MODES = ("generated", "aimed", "one field")
UNKNOWN_ID = "Y2lzY29zcGFyazovL3VzL1VOS05PV04vMDAwMDAwMDA"  # well-formed, names nothing


def _strategy(operation: APIOperation, method: DataGenerationMethod, seed_data: Seed) -> Any:
    """Cases of one generation method. Negative cases keep path parameters fixed (a real id
    or an unknown one): any string is a schema-valid id, so schemathesis cannot negate them
    and would spend its whole budget rejecting attempts."""
    names = [parameter.name for parameter in operation.path_parameters]
    if not method.is_negative or not names:
        return operation.as_strategy(data_generation_method=method)
    choices = [
        {name: seed_data.get(name) or UNKNOWN_ID for name in names},
        dict.fromkeys(names, UNKNOWN_ID),
    ]
    return st.sampled_from(choices).flatmap(
        lambda fixed: operation.as_strategy(data_generation_method=method, path_parameters=fixed)
    )


def fuzz_operation(
    operation: APIOperation,
    token: str,
    seed_data: Seed,
    stats: Stats,
    examples: int,
    derandomize: bool = True,
    random_seed: int | None = None,
    session: requests.Session | None = None,
    negative_examples: int | None = None,
    on_case: Callable[[Case, Any], None] | None = None,
    checks: tuple[Any, ...] = CHECKS,
    aim_negative: bool = True,
) -> None:
    """Run ``examples`` cases of each generation method on one operation; record failures
    of ``checks`` (by default :data:`CHECKS`). ``aim_negative=False`` sends the negative
    cases as generated (their path ids still fixed, :func:`_strategy`): aiming replaces the
    body and drops the headers, which may remove the very value that made them invalid."""
    http = session or requests.Session()
    seen: set[tuple[str, str]] = set()
    name = operation.verbose_name
    for method in operation.schema.data_generation_methods:
        strategy = _strategy(operation, method, seed_data)

        @given(case=strategy, mode=st.sampled_from(MODES), pick=st.integers(0, 1 << 16))
        @settings(
            max_examples=examples
            if negative_examples is None or not method.is_negative
            else negative_examples,
            deadline=None,
            derandomize=derandomize,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
        )
        def run(case: Case, mode: str, pick: int) -> None:
            negative = case.data_generation_method and case.data_generation_method.is_negative
            if not aim_negative and negative:
                mode = "generated"
            if mode != "generated":
                _aim(case, seed_data)
            if mode == "one field":
                _one_field(case, seed_data, pick, stats.cases)
            response = case.call(
                session=http, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            stats.cases += 1
            stats.by_operation[name] = stats.by_operation.get(name, 0) + 1
            stats.statuses[response.status_code] = stats.statuses.get(response.status_code, 0) + 1
            stats.statuses_by_operation.setdefault(name, set()).add(response.status_code)
            if on_case:
                on_case(case, response)
            try:
                case.validate_response(response, checks=checks)
            except AssertionError as exc:
                title = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else repr(exc)
                key = (str(response.status_code), title)
                if key in seen:
                    return
                seen.add(key)
                stats.failures.append(
                    Failure(
                        name,
                        response.status_code,
                        str(exc)[:2000],
                        case.as_curl_command({"Authorization": "Bearer <token>"}),
                    )
                )

        if random_seed is not None:
            run = hypothesis_seed(random_seed)(run)
        try:
            run()
        except (Unsatisfiable, SkipTest):
            # e.g. no schema-invalid value exists for a plain string path parameter
            stats.unsatisfiable.append(f"{name} ({method.name})")


def fuzz(
    base_url: str,
    token: str,
    seed_data: Seed,
    examples: int,
    derandomize: bool = True,
    random_seed: int | None = None,
    methods: list[DataGenerationMethod] | None = None,
    negative_examples: int | None = None,
    progress: Callable[[str, Stats], None] | None = None,
) -> Stats:
    generation = methods or [DataGenerationMethod.positive, DataGenerationMethod.negative]
    stats = Stats()
    session = requests.Session()
    ops = operations(vendor_schema(base_url, generation), hub_schema(base_url, generation))
    for operation in ops:
        fuzz_operation(
            operation,
            token,
            seed_data,
            stats,
            examples,
            derandomize,
            random_seed,
            session,
            negative_examples,
        )
        if progress:
            progress(operation.verbose_name, stats)
    return stats


ALL_SCOPES_LIST = list(ALL_SCOPES)
