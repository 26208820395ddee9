"""``POST /v1/wholesale/subscribers`` in the fast lane (:mod:`partnerhub.kit.fastlane`).

Three statements on one autocommit driver connection: the bearer check with its rate-limit
counters, every fact the rules read (:func:`repository.fast_facts`), and the insert. The rules
are the service's own (:func:`service.plan_new`, over :class:`PrefetchedFacts`); the answer is
the route's own (:func:`api.present_one`). Whatever the fast lane does not answer itself falls
back to the route before anything is written: a request with an ``Idempotency-Key`` or a query
parameter, a body the route's schema refuses, any rule that refuses, a package with a limit
(counted under a lock), a move of a user of another partner (202), a headquarters not yet
materialized, and a constraint the insert violates (a lost race).
"""

from __future__ import annotations

import json
import uuid

import psycopg
from pydantic import ValidationError

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.errors import ApiError
from partnerhub.kit.fastlane import FALL_BACK, UNSENDABLE, FastRequest, FastResponse, authenticate
from partnerhub.models import Customer, Location
from partnerhub.subscribers import repository, service
from partnerhub.subscribers.api import present_one
from partnerhub.subscribers.repository import EmailUser, FastFactsRow, NumberFact
from partnerhub.subscribers.schemas import SubscriberIn

PATH = "/v1/wholesale/subscribers"


class NotPrefetched(Exception):
    """The rules asked for a fact the fast lane did not read: the route answers instead."""


class PrefetchedFacts(service.Facts):
    """The :class:`service.Facts` of one request, read beforehand in one statement."""

    def __init__(
        self,
        customer: Customer,
        row: FastFactsRow,
        location_id: uuid.UUID | None,
        raw_phone: str | None,
        e164: str | None,
        extension: str | None,
    ) -> None:
        self.customer = customer
        self.row = row
        self.location_id = location_id  # the one asked for (None: the headquarters)
        self.raw_phone = raw_phone
        self.e164 = e164
        self.extension = extension

    def _location(self) -> Location | None:
        if self.row.location is None:
            return None
        found_id, name = self.row.location
        return Location(id=found_id, name=name, customer_id=self.customer.id)

    async def email_users(self, email: str) -> list[EmailUser]:
        return self.row.email_users

    async def identity_kind(self, email: str) -> str | None:
        return self.row.identity_kind

    async def location(self, ref: str) -> Location | None:
        if self.location_id is None or ids.decode("LOCATION", ref) != self.location_id:
            raise NotPrefetched
        return self._location()

    async def location_by_id(self, location_id: uuid.UUID) -> Location | None:
        raise NotPrefetched

    async def headquarters(self) -> Location | None:
        if self.location_id is not None:
            raise NotPrefetched
        found = self._location()
        if found is None and self.row.customer["has_hq_record"]:
            raise NotPrefetched  # the route materializes the recorded headquarters
        return found

    async def number(self, e164: str) -> NumberFact | None:
        if e164 != self.e164:
            raise NotPrefetched
        return self.row.number

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        if self.row.location is None or location_id != self.row.location[0]:
            raise NotPrefetched
        if extension != self.extension:
            raise NotPrefetched
        return self.row.extension_owner

    async def package_count(self, package: str) -> int:
        raise NotPrefetched  # limits are counted under the route's lock

    def parse_number(self, raw: str) -> str | None:
        if raw == self.raw_phone:
            return self.e164
        return super().parse_number(raw)


def _customer(values: dict[str, object]) -> Customer:
    return Customer(
        id=values["id"],
        partner_id=values["partner_id"],
        status=values["status"],
        org_id=values["org_id"],
        packages=values["packages"],
        provisioning_parameters=values["provisioning_parameters"],
        settings=values["settings"],
        data_region=values["data_region"],
        external_id=values["external_id"],
    )


async def provision_subscriber(request: FastRequest) -> FastResponse | None:
    if "idempotency-key" in request.headers or request.query_string:
        return FALL_BACK
    try:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            return FALL_BACK
        body = SubscriberIn.model_validate(data)
    except (ValueError, RecursionError, ValidationError):  # JSONDecodeError: a ValueError
        return FALL_BACK
    inp = body.to_input(body.customer_id, body.email)
    customer_id = ids.decode("CUSTOMER", (inp.customer or "").strip()) if inp.customer else None
    email = service._valid_email(service._text(inp.email) or "")
    if customer_id is None or email is None or len(email) > 320:
        return FALL_BACK
    location_id = None
    location_ref = service._text(inp.location)
    if location_ref is not None:
        location_id = ids.decode("LOCATION", location_ref)
        if location_id is None:
            return FALL_BACK
    raw_phone = service._text(inp.phone_number)
    e164 = phones.parse_e164(raw_phone) if raw_phone is not None else None
    if raw_phone is not None and e164 is None:
        return FALL_BACK
    extension = service._text(inp.extension)

    pool = await request.app_state.db.autocommit()
    async with pool.connection() as conn:
        principal = await authenticate(request, conn, service.WRITE)
        if principal is None:
            return FALL_BACK
        try:
            row = await repository.fast_facts(
                conn, principal.partner_id, customer_id, email, location_id, e164, extension
            )
        except UNSENDABLE:
            return FALL_BACK  # the route answers a value the database refuses
        if row is None:
            return FALL_BACK
        customer = _customer(row.customer)
        facts = PrefetchedFacts(customer, row, location_id, raw_phone, e164, extension)
        try:
            plan = await service.plan_new(facts, inp, principal)
        except (ApiError, NotPrefetched):
            return FALL_BACK
        if plan.status != service.PROVISIONED or plan.moves_user_id is not None:
            return FALL_BACK
        user = service.new_user(customer, plan)
        try:
            await repository.insert_user(conn, user)
        except psycopg.errors.IntegrityError:
            return FALL_BACK  # a lost race: the route finds the conflict and names it
        except UNSENDABLE:
            return FALL_BACK
    out = present_one(user, customer)
    content = out.model_dump(by_alias=True, mode="json", exclude_none=True)
    location = f"{request.base_url()}{PATH}/{out.id}"
    return FastResponse(200, content, [(b"location", location.encode("latin-1"))])
