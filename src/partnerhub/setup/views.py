"""The partner's "Set up customer" pages, beside the customer's page.

* ``/customers/{id}/setup`` — "Set up customer": "Add users", the locations with their
  number inventory (numbers or ranges can be added there), and the installation assistance
  requests: ``POST /customers/{id}/setup/assistance`` stores a request (and queues its e-mail),
  ``POST /customers/{id}/setup/assistance/{request}/status`` changes its status; a refusal
  shows this page again with what was typed;
* ``/customers/{id}/setup/users`` — "Add users": records in the organization's history that
  the partner administrator opened the customer's own users page, then goes there
  (:mod:`partnerhub.customer_portal.org_users_views`, the customer administrators' pages).

The page composes several domains (customers, locations, numbers, subscribers, installation
assistance), so it is a package of its own above them: none of them imports it.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.assistance import service as assistance
from partnerhub.assistance.repository import AssistanceRepository
from partnerhub.customer_portal import access
from partnerhub.customers import service as customers
from partnerhub.customers.repository import CustomerRepository
from partnerhub.errors import ApiError
from partnerhub.identity.org_auth import deliver_later
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.locations import service as locations
from partnerhub.models import Customer, Location
from partnerhub.numbers import service as numbers
from partnerhub.numbers.repository import NumberRepository
from partnerhub.portal import forms, messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.subscribers import service
from partnerhub.subscribers.repository import SubscriberRepository

router = APIRouter(include_in_schema=False)

ASSISTANCE_STATUSES = {
    "submitted": N_("Submitted"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
}


async def setup_page(
    request: Request,
    ctx: portal.PortalContext,
    customer_id: str,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The "Set up customer" page; ``error``/``form`` for the add-numbers form, ``extra`` for
    the context of another form shown again on it (installation assistance)."""
    principal = ctx.principal
    async with unit_of_work(request) as db:
        customer = await customers.get(
            CustomerRepository(db, principal), ids.decode("CUSTOMER", customer_id)
        )
        assistance_context = await _assistance(db, principal, customer)
        ready = service.accepts_users(customer)
        places: list[Location] = []
        rows: list[Any] = []
        if ready:
            await locations.headquarters_of(db, customer)
            places = await SubscriberRepository(db, principal).locations_of(customer.id)
            if principal.has(numbers.READ):
                rows = await numbers.list_numbers(
                    NumberRepository(db, principal),
                    numbers.ListQuery(org=locations.org_wire_id(customer)),
                    0,
                    10_000,
                )
    places.sort(key=lambda loc: (not loc.headquarters, loc.name.lower()))
    inventory: dict[uuid.UUID, dict[str, int]] = {
        loc.id: {"available": 0, "assigned": 0} for loc in places
    }
    for row in rows:
        counts = inventory.get(row.number.location_id)
        if counts is not None:
            taken = row.owner is not None or row.number.main
            counts["assigned" if taken else "available"] += 1
    return render(
        request,
        "setup/setup.html",
        {
            "customer": customer,
            "cid": customer_id,
            "ready": ready,
            "places": places,
            "inventory": inventory,
            "loc_id": lambda loc: locations.location_wire_id(loc, customer),
            "can_add_numbers": principal.has(numbers.WRITE),
            "can_edit_locations": principal.has(locations.WRITE),
            "error": error,
            "form": form or {},
            "notice": request.query_params.get("notice"),
            "can_import": principal.has(service.WRITE),
            **assistance_context,
            **(extra or {}),
        },
        status=status,
    )


async def _assistance(db: AsyncSession, principal: Principal, customer: Customer) -> dict[str, Any]:
    """What the page shows of the customer's installation assistance requests (its
    ``setup/_assistance.html`` part; its forms post to :func:`request_assistance` and
    :func:`change_status`)."""
    repo = AssistanceRepository(db, principal)
    requests = await repo.for_customer(customer.id) if principal.has(assistance.READ) else []
    return {
        "assistance_requests": requests,
        "assistance_ref": lambda r: ids.encode(
            "INSTALLATION_REQUEST", r.id, ids.region_of(customer.data_region)
        ),
        "assistance_statuses": ASSISTANCE_STATUSES,
        "can_request_assistance": principal.has(assistance.WRITE),
        "assistance_form": {},
        "assistance_error": None,
    }


@router.get("/customers/{customer_id}/setup")
async def setup(
    customer_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await setup_page(request, ctx, customer_id)


@router.get("/customers/{customer_id}/setup/users")
async def open_users(customer_id: str, request: Request) -> Response:
    """ "Add users": the customer's own users page, the partner administrator's visit
    recorded in the organization's history."""
    await portal.require_admin(request)
    org = await access.resolve(request, customer_id)
    if isinstance(org, Response):
        return org
    if org.acting_partner:
        async with unit_of_work(request) as db:
            access.record(db, org, "portal.open", {"page": "users"})
    return RedirectResponse(f"/org/{org.ref}/users", status_code=303)


@router.post("/customers/{customer_id}/setup/numbers")
async def add_numbers(
    customer_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    """Add numbers (or ranges) to one location's inventory."""
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    values = {k: str(form.get(k) or "").strip() for k in ("location", "numbers")}
    async with unit_of_work(request) as db:
        customer = await customers.get(
            CustomerRepository(db, ctx.principal), ids.decode("CUSTOMER", customer_id)
        )
    try:
        async with unit_of_work(request) as db:
            location = await service.location_in(
                SubscriberRepository(db, ctx.principal), customer, values["location"]
            )
            await numbers.add_typed(
                NumberRepository(db, ctx.principal), location.id, values["numbers"]
            )
    except ApiError as exc:
        return await setup_page(
            request,
            ctx,
            customer_id,
            error=messages.described(exc, language(request)),
            form=values,
            status=exc.status,
        )
    return RedirectResponse(
        f"/customers/{customer_id}/setup?notice=numbers#numbers", status_code=303
    )


# --- installation assistance requests --------------------------------------------------

FIELDS = ("contact_name", "contact_email", "phone", "preferred_dates", "sites", "notes")


async def _page(
    request: Request, ctx: portal.PortalContext, cid: str, *, status: int, **extra: Any
) -> Response:
    """The set-up page again, with what was typed and the refusal."""
    return await setup_page(request, ctx, cid, status=status, extra=extra)


async def _refused(
    request: Request, ctx: portal.PortalContext, cid: str, exc: ApiError, **extra: Any
) -> Response:
    """The set-up page again with the refusal in the reader's words (another tenant's or an
    unknown request: 404)."""
    if exc.status == 404:
        raise exc
    return await _page(
        request, ctx, cid, status=exc.status, assistance_error=forms.refusal(request, exc), **extra
    )


@router.post("/customers/{customer_id}/setup/assistance")
async def request_assistance(
    customer_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    values = {k: str(form.get(k) or "")[:5000] for k in FIELDS}
    try:
        async with unit_of_work(request) as db:
            created = await assistance.create(
                AssistanceRepository(db, ctx.principal),
                ids.decode("CUSTOMER", customer_id),
                assistance.RequestInput(**values),
                language(request),
            )
    except ApiError as exc:
        return await _refused(request, ctx, customer_id, exc, assistance_form=values)
    await deliver_later(created.email_id)
    return RedirectResponse(
        f"/customers/{customer_id}/setup?notice=assistance#assistance", status_code=303
    )


@router.post("/customers/{customer_id}/setup/assistance/{request_id}/status")
async def change_status(
    customer_id: str,
    request_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    try:
        async with unit_of_work(request) as db:
            await assistance.set_status(
                AssistanceRepository(db, ctx.principal),
                ids.decode("CUSTOMER", customer_id),
                ids.decode("INSTALLATION_REQUEST", request_id),
                str(form.get("status") or ""),
            )
    except ApiError as exc:
        return await _refused(request, ctx, customer_id, exc)
    return RedirectResponse(f"/customers/{customer_id}/setup#assistance", status_code=303)
