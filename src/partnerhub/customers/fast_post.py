"""``POST /v1/wholesale/customers`` in the fast lane (:mod:`partnerhub.kit.fastlane`).

On one autocommit driver connection: the bearer check with its rate-limit counters; every fact
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

from partnerhub.customers import repository, service, tasks
from partnerhub.customers.api import customer_id
from partnerhub.customers.schemas import CustomerIn
from partnerhub.errors import ApiError
from partnerhub.identity.service import authenticate_on
from partnerhub.kit import direct, idempotency
from partnerhub.kit.fastlane import FALL_BACK, FastRequest, FastResponse
from partnerhub.kit.scope import Principal
from partnerhub.models import CustomerEvent, Template
from partnerhub.models.base import utcnow
from partnerhub.partners.service import refuse_if_suspended

PATH = "/v1/wholesale/customers"
# Values the database refuses (a NUL, an unpaired surrogate): nothing is written (the
# transaction rolls back), and the route gives its clean 400.
UNSENDABLE = (psycopg.DataError, UnicodeEncodeError)


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

    settings = request.app_state.settings
    pool = await request.app_state.db.autocommit()
    async with pool.connection() as conn:
        try:
            principal = await authenticate_on(
                conn,
                request.headers.get("authorization"),
                f"addr:{request.client_address()}",
                settings.rate_limit_per_address,
                settings.rate_limit_per_token,
            )
            # The route takes this principal (or this refusal) as the bearer check's answer.
            request.state["authenticated"] = principal
            refuse_if_suspended(principal, "POST")
        except ApiError as exc:
            request.state.setdefault("authenticated", exc)
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
            customer = await service.new_customer(references, wire)
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
