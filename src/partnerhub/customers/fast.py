"""The customers API in the fast lane (:mod:`partnerhub.kit.fastlane`).

**``GET /v1/wholesale/customers``.** One autocommit driver connection: the bearer check with
its rate-limit counters, then the page
(:func:`repository.fast_page`: one statement, only the page's rows read whole). The query is
read and checked by the route's own functions (:func:`page_params`,
:func:`service.parse_filters`) and the answer is built by the route's own :func:`api.present`
and :func:`set_next_link`, so body and headers are the route's. Whatever the fast lane does not
answer itself falls back to the route before the bearer check: a query parameter other than
``offset``, ``max``, ``status``, ``externalId`` and ``orgId`` (``onBehalfOfSubPartnerOrgId``
among them), one of the single-valued ones given twice, and an invalid value (the route names
the problem). A refusal after the bearer check (a missing scope, a suspended sub-partner) falls
back too, with the principal kept for the route.

**``POST /v1/wholesale/customers``.** On one autocommit driver connection: the bearer check
with its rate-limit counters; every fact
the rules read in one statement (:func:`repository.new_customer_facts`); then one transaction
writing the customer, its first event and, with an ``Idempotency-Key``, the key with its
response. The job is deferred after the commit, as the route does. The rules are the service's
own (:func:`service.new_customer`); the answer is the route's (202, ``{"url"}``, ``Location``).

Falls back to the route, before anything is written, for: a query parameter
(``onBehalfOfSubPartnerOrgId``), a body the route's schema or a rule refuses, an idempotency
key already known (the route replays its response or answers 422) or malformed, and a
constraint the transaction violates (a lost race: the route names the conflict).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from partnerhub.customers import repository, service, tasks
from partnerhub.customers.api import customer_id, present
from partnerhub.customers.schemas import CustomerIn
from partnerhub.errors import ApiError
from partnerhub.kit import direct, idempotency
from partnerhub.kit.fastlane import FALL_BACK, UNSENDABLE, FastRequest, FastResponse, authenticate
from partnerhub.kit.pagination import page_params, set_next_link
from partnerhub.kit.scope import Principal
from partnerhub.models import CustomerEvent, Template
from partnerhub.models.base import utcnow

PATH = "/v1/wholesale/customers"
SINGLE = frozenset({"offset", "max", "externalId", "orgId"})  # the route keeps the last one
SUPPORTED = SINGLE | {"status"}


async def list_customers(request: FastRequest) -> FastResponse | None:
    # The route's own view of the request: the same query parsing and the same URL.
    route_request = Request(request.scope)
    query = route_request.query_params
    seen: set[str] = set()
    for key, _ in query.multi_items():
        if key not in SUPPORTED or (key in seen and key in SINGLE):
            return FALL_BACK
        seen.add(key)
    try:
        page = page_params(query.get("offset"), query.get("max"), default=100, limit=100)
        filters = service.parse_filters(
            query.get("externalId"), query.get("orgId"), query.getlist("status")
        )
    except ApiError:
        return FALL_BACK

    pool = await request.app_state.db.autocommit()
    async with pool.connection() as conn:
        principal = await authenticate(request, conn, service.READ)
        if principal is None:
            return FALL_BACK
        try:
            rows = await repository.fast_page(
                conn, principal.partner_id, filters, page.offset, page.max + 1
            )
        except UNSENDABLE:
            return FALL_BACK  # the route answers a value the database refuses (400)
    content = {"items": [present(c) for c in rows[: page.max]]}
    answer = Response()
    set_next_link(route_request, answer, page, has_more=len(rows) > page.max)
    link = answer.headers.get("link")
    headers = [(b"link", link.encode("latin-1"))] if link is not None else []
    return FastResponse(200, content, headers)


class PrefetchedReferences:
    """:class:`service.References` answered from :class:`repository.NewCustomerFacts`."""

    def __init__(
        self, principal: Principal, provisioning_id: str, facts: repository.NewCustomerFacts
    ) -> None:
        self.principal = principal
        self.provisioning_id = provisioning_id
        self.facts = facts
        self.asked: tuple[Any, ...] | None = None

    async def template_and_admin_email(
        self, provisioning_id: str
    ) -> tuple[Template, str | None] | None:
        assert provisioning_id == self.provisioning_id
        if self.facts.template is None:
            return None
        return self.facts.template, self.facts.admin_email

    async def conflicts(
        self, external_id: str | None, org_id: Any, email: str | None
    ) -> tuple[bool, bool, bool]:
        self.asked = (external_id, org_id, email)
        return self.facts.conflicts


async def provision_customer(request: FastRequest) -> FastResponse | None:
    if request.query_string:
        return FALL_BACK
    try:
        key = idempotency.parse_key(request.headers.get("idempotency-key"))
        data = json.loads(request.body)
        if not isinstance(data, dict):
            return FALL_BACK
        wire = CustomerIn.model_validate(data).wire()
    except (ApiError, ValueError, RecursionError, ValidationError):  # JSONDecodeError too
        return FALL_BACK
    checked, problems = service.check_fields(wire)
    if problems or checked.external_id is None:
        return FALL_BACK
    provisioning_id = service._text(wire.get("provisioningId"))
    if provisioning_id is None:
        return FALL_BACK
    email = (checked.customer_info or {}).get("primaryEmail")

    pool = await request.app_state.db.autocommit()
    async with pool.connection() as conn:
        principal = await authenticate(request, conn, service.WRITE)
        if principal is None:
            return FALL_BACK
        try:
            facts = await repository.new_customer_facts(
                conn,
                principal.partner_id,
                principal.home_partner_id,
                provisioning_id,
                checked.external_id,
                checked.org_id,
                email,
                key,
            )
        except UNSENDABLE:
            return FALL_BACK  # the route answers a value the database refuses
        if facts.key_known:
            return FALL_BACK
        references = PrefetchedReferences(principal, provisioning_id, facts)
        try:
            customer = await service.new_customer(references, wire, checked)
        except ApiError:
            return FALL_BACK
        if references.asked != (checked.external_id, checked.org_id, email):
            return FALL_BACK  # the rules asked about other values than those read
        url = f"{request.base_url()}{PATH}/{customer_id(customer)}"
        response = FastResponse(202, {"url": url}, [(b"location", url.encode("latin-1"))])
        event = CustomerEvent(
            partner_id=customer.partner_id,
            customer_id=customer.id,
            kind="status",
            status=customer.status,
            detail={"by": service._actor(references)},
            created=utcnow(),
        )
        try:
            async with conn.transaction():
                await direct.insert(conn, customer)
                await direct.insert(conn, event)
                if key is not None:
                    await idempotency.store_direct(
                        conn,
                        principal.home_partner_id,
                        key,
                        idempotency.fingerprint("POST", PATH, principal.partner_id, request.body),
                        202,
                        {"location": url, "content-type": "application/json"},
                        response.encoded(),
                    )
        except psycopg.errors.IntegrityError:
            return FALL_BACK  # a lost race: the route finds the conflict and names it
        except UNSENDABLE:
            return FALL_BACK
    if customer.status in service.BUSY:
        await tasks.enqueue(customer.id)
    return response
