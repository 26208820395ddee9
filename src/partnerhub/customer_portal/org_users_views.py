"""The customer administrators' users pages, ``/org/{customer}/users/...``, next to
:mod:`partnerhub.customer_portal.views`: reachable by the customer's administrators who manage
users and by the partner's administrators, with the same banner and audit.

* "Add users (wholesale)" — up to :data:`MAX_ROWS` rows of first name, last name, email
  address and package; Next;
* "Assign numbers" — for the rows whose package includes calling: a location and one of its
  *available* numbers (an extension optionally); "Assign numbers" creates every user; a
  partner administrator may add numbers to a location's inventory here;
* "Change package" for one user.

The rules are the subscriber service's own: every row goes through
:func:`partnerhub.subscribers.service.plan_new` over one
:class:`partnerhub.subscribers.imports.MemoryFacts` (so two rows claiming the same email or
number conflict exactly as two API requests would), and nothing is written unless every row
passes. The rows travel between the two steps as hidden fields: they are checked again in
full when the users are created, so nothing in them is trusted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.catalog import packages as catalog
from partnerhub.catalog.customer_roles import CUSTOMER_ROLES
from partnerhub.customer_portal import access
from partnerhub.customer_portal.access import OrgContext
from partnerhub.errors import ApiError, NotFound
from partnerhub.identity import org_auth
from partnerhub.identity.service import principal_for_admin
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.locations import service as locations
from partnerhub.models import Customer, Location, OrgUser
from partnerhub.numbers import service as numbers
from partnerhub.numbers.repository import NumberRepository
from partnerhub.portal import forms, messages
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.subscribers import service
from partnerhub.subscribers.imports import MemoryFacts, Row
from partnerhub.subscribers.repository import PENDING, SubscriberRepository

router = APIRouter(include_in_schema=False)

MAX_ROWS = 25
ROW_FIELDS = ("first_name", "last_name", "email", "package")
CALL_FIELDS = ("location", "phone_number", "extension")
CHOOSE_PACKAGE = N_("Choose a package")
TOO_MANY_ROWS = N_("At most 25 users at a time")
NO_ROWS = N_("Enter at least one user")
NUMBERS_ADDED = N_("Numbers added to the inventory")
NUMBER_CHOSEN_TWICE = N_("%(number)s is already chosen for %(email)s in this form")
# Service field → the form field a refusal is shown next to.
FORM_FIELD = {
    "email": "email",
    "package": "package",
    "packages": "package",
    "first_name": "first_name",
    "last_name": "last_name",
    "phone_number": "phone_number",
    "extension": "extension",
    "location": "location",
}


@dataclass
class FormRow:
    """One user row as typed (step 1) plus its calling choices (step 2)."""

    index: int
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def blank(self) -> bool:
        return not any(self.values.get(k) for k in ROW_FIELDS)

    @property
    def calling(self) -> bool:
        pkg = self.values.get("package") or ""
        return pkg in catalog.PACKAGES and catalog.PACKAGES[pkg].calling

    @property
    def label(self) -> str:
        name = " ".join(
            v for v in (self.values.get("first_name"), self.values.get("last_name")) if v
        )
        return f"{name} <{self.values.get('email')}>" if name else self.values.get("email") or ""


def read_rows(form: Any) -> list[FormRow]:
    """The rows of a posted form (``first_name-0``, ``email-0``, ...), in order."""
    found: set[int] = set()
    for key in form:
        name, _, index = str(key).rpartition("-")
        if name in ROW_FIELDS + CALL_FIELDS and index.isdigit() and int(index) < 1000:
            found.add(int(index))
    rows = []
    for i in sorted(found):
        values = {
            k: str(form.get(f"{k}-{i}") or "").strip()[:400] for k in ROW_FIELDS + CALL_FIELDS
        }
        rows.append(FormRow(i, values))
    return rows


def _renumber(rows: list[FormRow]) -> list[FormRow]:
    return [FormRow(n, r.values, r.errors) for n, r in enumerate(rows)]


def _user_packages(customer: Customer) -> list[tuple[str, str]]:
    return [
        (p, catalog.PACKAGES[p].label)
        for p in customer.packages or []
        if p in catalog.PACKAGES and p in catalog.SUBSCRIBER_PACKAGES
    ]


def _input(ctx: OrgContext, row: FormRow, with_calling: bool) -> service.SubscriberInput:
    v = row.values
    calling = with_calling and row.calling
    return service.SubscriberInput(
        customer=ctx.ref,
        email=v.get("email"),
        packages=[v.get("package") or ""],
        first_name=v.get("first_name") or None,
        last_name=v.get("last_name") or None,
        location=(v.get("location") or None) if calling else None,
        phone_number=(v.get("phone_number") or None) if calling else None,
        extension=(v.get("extension") or None) if calling else None,
        given=frozenset(k for k in CALL_FIELDS if calling and v.get(k)),
    )


def _note(row: FormRow, exc: ApiError, lang: str) -> None:
    for problem in getattr(exc, "problems", None) or [exc]:
        where = FORM_FIELD.get(problem.field or "", "email")
        row.errors.setdefault(where, messages.describe(problem, lang))


async def check_rows(
    db: AsyncSession, request: Request, ctx: OrgContext, rows: list[FormRow], with_calling: bool
) -> tuple[Customer, list[tuple[FormRow, service.Plan]]]:
    """Run every row through the subscriber rules (nothing is written); problems are noted
    on the rows. Without ``with_calling`` (step 1), a calling row only lacks its number."""
    _ = gettext_for(request)
    plans: list[tuple[FormRow, service.Plan]] = []
    repo = SubscriberRepository(db, ctx.principal)
    customer = await service.customer_of(repo, ctx.ref)
    service.check_customer(customer)
    facts = await MemoryFacts.load(repo, customer, [Row(r.index + 1, r.values) for r in rows])
    chosen_by: dict[str, str] = {}  # number → the email of the row that chose it first
    for row in rows:
        if not row.values.get("package"):
            row.errors["package"] = _(CHOOSE_PACKAGE)
            continue
        number = (row.values.get("phone_number") or "").strip() if with_calling else ""
        if number and row.calling:
            if number in chosen_by:  # the real cause, not "already assigned"
                row.errors["phone_number"] = _(NUMBER_CHOSEN_TWICE) % {
                    "number": number,
                    "email": chosen_by[number],
                }
                continue
            chosen_by[number] = row.values.get("email", "")
        inp = _input(ctx, row, with_calling)
        try:
            plan = await service.plan_new(facts, inp, repo.principal)
        except service.CallingNeedsNumber as exc:
            if with_calling or not row.calling:
                _note(row, exc, language(request))
                continue
            # Step 1: the number is chosen in "Assign numbers"; hold the email and the
            # package so that later rows see them.
            email, package = service.check_shape(inp)
            facts.claim(uuid.uuid4(), service.Plan(email=email, package=package))
            continue
        except ApiError as exc:
            _note(row, exc, language(request))
            continue
        facts.claim(plan.user_id, plan)
        plans.append((row, plan))
    return customer, plans


async def _numbers_choice(
    request: Request, ctx: OrgContext
) -> tuple[list[Location], dict[uuid.UUID, list[str]], Customer]:
    """The customer's locations (headquarters first) and their available numbers."""
    async with unit_of_work(request) as db:
        repo = SubscriberRepository(db, ctx.principal)
        customer = await service.customer_of(repo, ctx.ref)
        await locations.headquarters_of(db, customer)
        places = await repo.locations_of(customer.id)
        rows = await numbers.list_numbers(
            NumberRepository(db, ctx.principal),
            numbers.ListQuery(org=locations.org_wire_id(customer), available="true"),
            0,
            10_000,
        )
    places.sort(key=lambda loc: (not loc.headquarters, loc.name.lower()))
    free: dict[uuid.UUID, list[str]] = {loc.id: [] for loc in places}
    for row in rows:
        free.setdefault(row.number.location_id, []).append(row.number.phone_number)
    return places, free, customer


async def _org(request: Request, customer_ref: str) -> OrgContext | Response:
    ctx = await access.resolve(request, customer_ref)
    if isinstance(ctx, Response):
        return ctx
    ctx.require("manage_users")
    return ctx


async def _posted(request: Request, customer_ref: str) -> tuple[OrgContext, Any] | Response:
    """The organization and the posted form (its CSRF token checked)."""
    ctx = await _org(request, customer_ref)
    if isinstance(ctx, Response):
        return ctx
    form = await request.form()
    ctx.check_form(form)
    return ctx, form


def _partner_principal(ctx: OrgContext) -> Principal | None:
    """The partner administrator's own principal (to add numbers), when a partner acts."""
    return principal_for_admin(ctx.partner_admin) if ctx.partner_admin is not None else None


def org_page(
    request: Request, ctx: OrgContext, name: str, extra: dict[str, Any], status: int = 200
) -> Response:
    """A page of the customer's own portal (its layout: banner, organization menu)."""
    _ = gettext_for(request)
    context: dict[str, Any] = {
        "org": ctx,
        "customer": ctx.customer,
        "section": "users",
        "csrf_token": ctx.csrf_token,
        "can": ctx.can,
        "base": f"/org/{ctx.ref}",
        "roles_text": lambda roles: ", ".join(
            _(CUSTOMER_ROLES[r].label) if r in CUSTOMER_ROLES else r for r in roles or []
        ),
    }
    context.update(extra)
    return render(request, f"setup/{name}.html", context, status=status)


def _rows_page(
    request: Request,
    ctx: OrgContext,
    rows: list[FormRow],
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return org_page(
        request,
        ctx,
        "add_users",
        {
            "rows": rows,
            "max_rows": MAX_ROWS,
            "packages": _user_packages(ctx.customer),
            "ready": service.accepts_users(ctx.customer),
            "error": error,
        },
        status=status,
    )


async def _assign_page(
    request: Request,
    ctx: OrgContext,
    rows: list[FormRow],
    *,
    error: str | None = None,
    notice: str | None = None,
    add_numbers_text: str = "",
    status: int = 200,
) -> Response:
    places, free, customer = await _numbers_choice(request, ctx)
    hq = places[0] if places else None
    for row in rows:
        if row.calling and not row.values.get("location") and hq is not None:
            row.values["location"] = locations.location_wire_id(hq, customer)
    partner = _partner_principal(ctx)
    return org_page(
        request,
        ctx,
        "assign_numbers",
        {
            "rows": rows,
            "calling_rows": [r for r in rows if r.calling],
            "places": places,
            "free": free,
            "loc_id": lambda loc: locations.location_wire_id(loc, customer),
            "can_add_numbers": partner is not None and partner.has(numbers.WRITE),
            "add_numbers_text": add_numbers_text,
            "error": error,
            "notice": notice,
        },
        status=status,
    )


@router.get("/org/{customer_ref}/users/add-wholesale")
async def add_users(customer_ref: str, request: Request) -> Response:
    ctx = await _org(request, customer_ref)
    if isinstance(ctx, Response):
        return ctx
    return _rows_page(request, ctx, [FormRow(0, {})])


@router.post("/org/{customer_ref}/users/add-wholesale")
async def add_users_next(customer_ref: str, request: Request) -> Response:
    """Next: check the rows; rows with a calling package go on to "Assign numbers"."""
    posted = await _posted(request, customer_ref)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    _ = gettext_for(request)
    rows = read_rows(form)
    if form.get("action") == "more":
        rows = _renumber([r for r in rows if not r.blank] or rows[:1])
        if len(rows) < MAX_ROWS:
            rows.append(FormRow(len(rows), {}))
        return _rows_page(request, ctx, rows)
    rows = _renumber([r for r in rows if not r.blank])
    if not rows:
        return _rows_page(request, ctx, [FormRow(0, {})], error=_(NO_ROWS), status=400)
    if len(rows) > MAX_ROWS:
        return _rows_page(request, ctx, rows[:MAX_ROWS], error=_(TOO_MANY_ROWS), status=400)
    try:
        async with unit_of_work(request) as db:
            await check_rows(db, request, ctx, rows, with_calling=False)
    except ApiError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return _rows_page(
            request, ctx, rows, error=messages.described(exc, language(request)), status=exc.status
        )
    if any(r.errors for r in rows):
        return _rows_page(request, ctx, rows, status=400)
    if any(r.calling for r in rows):
        return await _assign_page(request, ctx, rows)
    return await _create(request, ctx, rows)


@router.post("/org/{customer_ref}/users/assign-numbers")
async def assign_numbers(customer_ref: str, request: Request) -> Response:
    """ "Assign numbers" creates every user of the rows (all of them or none); "Back" returns
    to the rows; a partner administrator may add numbers to a location's inventory here."""
    posted = await _posted(request, customer_ref)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    _ = gettext_for(request)
    rows = _renumber([r for r in read_rows(form) if not r.blank])[:MAX_ROWS]
    action = str(form.get("action") or "assign")
    if not rows:
        return _rows_page(request, ctx, [FormRow(0, {})])
    if action == "back":
        return _rows_page(request, ctx, rows)
    if action.startswith("add_numbers"):
        return await _add_numbers_inline(request, ctx, rows, form)
    return await _create(request, ctx, rows)


async def _add_numbers_inline(
    request: Request, ctx: OrgContext, rows: list[FormRow], form: Any
) -> Response:
    _ = gettext_for(request)
    partner = _partner_principal(ctx)
    if partner is None:
        raise NotFound("Page not found")
    text = str(form.get("add_numbers") or "")
    location_ref = str(form.get("add_location") or "")
    try:
        async with unit_of_work(request) as db:
            location = await service.location_in(
                SubscriberRepository(db, partner), ctx.customer, location_ref
            )
            count = await numbers.add_typed(NumberRepository(db, partner), location.id, text)
            access.record(db, ctx, "numbers.add", {"locationId": str(location.id), "count": count})
    except ApiError as exc:
        return await _assign_page(
            request,
            ctx,
            rows,
            error=messages.described(exc, language(request)),
            add_numbers_text=text,
            status=exc.status,
        )
    return await _assign_page(request, ctx, rows, notice=_(NUMBERS_ADDED))


async def _create(request: Request, ctx: OrgContext, rows: list[FormRow]) -> Response:
    """Check every row in full and create the users, all of them or none (one transaction)."""
    _ = gettext_for(request)
    emails: list[uuid.UUID | None] = []
    try:
        async with unit_of_work(request) as db:
            customer, plans = await check_rows(db, request, ctx, rows, with_calling=True)
            if any(r.errors for r in rows):
                raise _RowsRefused()
            repo = SubscriberRepository(db, ctx.principal)
            users = [service.new_user(customer, plan) for _row, plan in plans]
            for user in users:
                repo.add(user)
            lost_race = await repo.flush()
            if lost_race is not None:
                raise service.integrity_problem(lost_race) or lost_race
            for user in users:
                if user.status != PENDING:
                    emails.append(
                        await org_auth.send_invitation(db, user, customer, ctx.actor_email)
                    )
                access.record(
                    db,
                    ctx,
                    "user.add",
                    {"userId": str(user.id), "email": user.email, "package": user.package},
                )
    except _RowsRefused:
        on_rows = any(k in r.errors for r in rows for k in ROW_FIELDS)
        if any(r.calling for r in rows) and not on_rows:
            return await _assign_page(request, ctx, rows, status=400)
        return _rows_page(request, ctx, rows, status=400)
    except ApiError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        if any(r.calling for r in rows):
            return await _assign_page(
                request,
                ctx,
                rows,
                error=messages.described(exc, language(request)),
                status=exc.status,
            )
        return _rows_page(
            request, ctx, rows, error=messages.described(exc, language(request)), status=exc.status
        )
    for email_id in emails:
        await org_auth.deliver_later(email_id)
    return RedirectResponse(
        f"/org/{ctx.ref}/users?notice=users_added&count={len(users)}", status_code=303
    )


class _RowsRefused(Exception):
    """Some row failed its checks (the problems are on the rows)."""


# --- change a user's package ---------------------------------------------------------------


async def _package_page(
    request: Request,
    ctx: OrgContext,
    user: OrgUser,
    values: dict[str, str],
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    places, free, customer = await _numbers_choice(request, ctx)
    if user.phone_number and user.location_id in free:
        free[user.location_id] = sorted({*free[user.location_id], user.phone_number})
    return org_page(
        request,
        ctx,
        "change_package",
        {
            "user": user,
            "uid": ids.encode("PEOPLE", user.id, locations.region_of(ctx.customer)),
            "values": values,
            "packages": _user_packages(ctx.customer),
            "calling_packages": [p for p in catalog.CALLING_PACKAGES],
            "places": places,
            "free": free,
            "loc_id": lambda loc: locations.location_wire_id(loc, customer),
            "error": error,
        },
        status=status,
    )


async def _user(request: Request, ctx: OrgContext, user_ref: str) -> OrgUser:
    async with unit_of_work(request) as db:
        return await service.user_of(
            SubscriberRepository(db, ctx.principal), ctx.customer, user_ref
        )


def _current_values(user: OrgUser, customer: Customer) -> dict[str, str]:
    loc = ""
    if user.location_id is not None:
        loc = ids.encode("LOCATION", user.location_id, locations.region_of(customer))
    return {
        "package": user.package or "",
        "location": loc,
        "phone_number": user.phone_number or "",
        "extension": user.extension or "",
    }


@router.get("/org/{customer_ref}/users/{user_ref}/package")
async def change_package(customer_ref: str, user_ref: str, request: Request) -> Response:
    ctx = await _org(request, customer_ref)
    if isinstance(ctx, Response):
        return ctx
    user = await _user(request, ctx, user_ref)
    return await _package_page(request, ctx, user, _current_values(user, ctx.customer))


@router.post("/org/{customer_ref}/users/{user_ref}/package")
async def save_package(customer_ref: str, user_ref: str, request: Request) -> Response:
    posted = await _posted(request, customer_ref)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    _ = gettext_for(request)
    values = {k: str(form.get(k) or "").strip() for k in ("package", *CALL_FIELDS)}
    user = await _user(request, ctx, user_ref)
    pkg = values["package"]
    calling = pkg in catalog.PACKAGES and catalog.PACKAGES[pkg].calling
    try:
        async with unit_of_work(request) as db:
            repo = SubscriberRepository(db, ctx.principal)
            changed = await service.update(
                repo,
                user.id,
                service.SubscriberInput(
                    packages=[pkg],
                    location=(values["location"] or None) if calling else None,
                    phone_number=(values["phone_number"] or None) if calling else None,
                    extension=(values["extension"] or None) if calling else None,
                    given=frozenset(CALL_FIELDS) if calling else frozenset(),
                ),
            )
            access.record(
                db,
                ctx,
                "user.package",
                {"userId": str(changed.id), "email": changed.email, "package": changed.package},
            )
    except ApiError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return await _package_page(
            request, ctx, user, values, error=forms.refusal(request, exc), status=exc.status
        )
    return RedirectResponse(f"/org/{ctx.ref}/users?notice=package_changed", status_code=303)
