"""The partner's location pages, reached from "Set up customer" (``/customers/{id}/setup``).

* ``/customers/{id}/locations/new`` — add a location (name, address with the country's rules,
  time zone and language of the country);
* ``/customers/{id}/locations/{location}/edit`` — change it, and choose its main number among
  the location's own available numbers;
* ``/customers/{id}/locations/{location}/delete`` — what deleting it loses (its numbers), then
  the deletion; the headquarters and a location with users are refused.

Every action is :mod:`partnerhub.locations.service`, the same functions as ``/v1/locations``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub import ids
from partnerhub.catalog import geo, languages, timezones
from partnerhub.errors import ApiError, NotFound
from partnerhub.kit.web import unit_of_work
from partnerhub.locations import service
from partnerhub.locations.repository import LocationRepository
from partnerhub.models import Customer
from partnerhub.portal import session as portal
from partnerhub.portal.forms import values_of
from partnerhub.portal.render import gettext_for, render

router = APIRouter(prefix="/customers/{customer_id}/locations", include_in_schema=False)

FIELDS = (
    "name",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country",
    "time_zone",
    "preferred_language",
    "main_number",
)
FIELD_OF = {
    "name": "name",
    "address.address1": "address1",
    "address.address2": "address2",
    "address.city": "city",
    "address.state": "state",
    "address.postalCode": "postal_code",
    "address.country": "country",
    "timeZone": "time_zone",
    "preferredLanguage": "preferred_language",
    "mainNumber": "main_number",
}


def _setup(customer_id: str, notice: str) -> str:
    return f"/customers/{customer_id}/setup?notice={notice}#numbers"


async def _customer(request: Request, ctx: portal.PortalContext, customer_id: str) -> Customer:
    """The acting partner's customer (404 for an unknown id or another tenant's)."""
    ctx.principal.require(service.READ)
    decoded = ids.decode("CUSTOMER", customer_id)
    async with unit_of_work(request) as db:
        found = await LocationRepository(db, ctx.principal).customer(decoded) if decoded else None
    if found is None:
        raise NotFound("Customer not found")
    return found


def _location_id(ref: str) -> uuid.UUID | None:
    return ids.decode("LOCATION", ref)


def _data(form: dict[str, str]) -> service.LocationData:
    return service.LocationData(
        name=form["name"],
        time_zone=form["time_zone"],
        preferred_language=form["preferred_language"],
        address1=form["address1"],
        address2=form["address2"] or None,
        city=form["city"],
        state=form["state"] or None,
        postal_code=form["postal_code"] or None,
        country=form["country"],
    )


def _errors(exc: ApiError, _: Any) -> tuple[str, dict[str, str]]:
    problems = getattr(exc, "problems", None) or [exc]
    by_field: dict[str, str] = {}
    for p in problems:
        key = FIELD_OF.get(p.field or "", "")
        if key and key not in by_field:
            by_field[key] = _(p.description)
    return "; ".join(_(p.description) for p in problems), by_field


async def _form_page(
    request: Request,
    ctx: portal.PortalContext,
    customer: Customer,
    customer_id: str,
    form: dict[str, str],
    *,
    location_ref: str | None = None,
    numbers: list[str] | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    lang = ctx.session.language if ctx.session else "en"
    country = (form.get("country") or "").upper()
    zones = timezones.timezones_for_country(country) or sorted(timezones.all_timezones())
    codes = list(languages.SUPPORTED_EMAIL_LANGUAGES)
    if form.get("preferred_language") and form["preferred_language"] not in codes:
        codes.insert(0, form["preferred_language"])
    return render(
        request,
        "locations/form.html",
        {
            "customer": customer,
            "cid": customer_id,
            "location_ref": location_ref,
            "form": form,
            "error": error,
            "errors": errors or {},
            "countries": geo.country_choices(lang),
            "subdivisions": geo.subdivision_choices(country),
            "timezones": zones,
            "languages": [(c, languages.language_label(c, lang)) for c in codes],
            "numbers": numbers,
        },
        status=status,
    )


def _require_write(ctx: portal.PortalContext) -> None:
    ctx.principal.require(service.WRITE)


@router.get("/new")
async def new(
    customer_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    _require_write(ctx)
    customer = await _customer(request, ctx, customer_id)
    service.usable_customer(customer)
    country = str((customer.address or {}).get("country") or "")
    form = dict.fromkeys(FIELDS, "")
    form.update(
        country=country,
        time_zone=timezones.principal_timezone(country) or "",
        preferred_language=customer.language or languages.DEFAULT_EMAIL_LANGUAGE,
    )
    return await _form_page(request, ctx, customer, customer_id, form)


@router.post("/new")
async def create(
    customer_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = values_of(await portal.form_of(request, ctx), FIELDS)
    _require_write(ctx)
    customer = await _customer(request, ctx, customer_id)
    try:
        async with unit_of_work(request) as db:
            await service.create(
                LocationRepository(db, ctx.principal),
                service.org_wire_id(customer),
                _data(form),
            )
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        error, errors = _errors(exc, gettext_for(request))
        return await _form_page(
            request, ctx, customer, customer_id, form, error=error, errors=errors,
            status=exc.status,
        )  # fmt: skip
    return RedirectResponse(_setup(customer_id, "location_added"), status_code=303)


async def _numbers(db: Any, ctx: portal.PortalContext, location_id: uuid.UUID) -> list[str]:
    """The location's numbers a main number can be chosen from (not assigned to a user)."""
    repo = LocationRepository(db, ctx.principal)
    held = await repo.of_location(location_id)
    owners = await repo.owners(held)
    return sorted(n for n in held if n not in owners)


@router.get("/{location_ref}/edit")
async def edit(
    customer_id: str,
    location_ref: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    _require_write(ctx)
    customer = await _customer(request, ctx, customer_id)
    async with unit_of_work(request) as db:
        repo = LocationRepository(db, ctx.principal)
        location = await service.get(repo, _location_id(location_ref))
        if location.customer_id != customer.id:
            raise NotFound("Location not found")
        main = (await repo.main_numbers([location.id])).get(location.id) or ""
        numbers = await _numbers(db, ctx, location.id)
    data = service.data_of(location)
    form = {
        "name": data.name,
        "address1": data.address1,
        "address2": data.address2 or "",
        "city": data.city,
        "state": data.state or "",
        "postal_code": data.postal_code or "",
        "country": data.country,
        "time_zone": data.time_zone,
        "preferred_language": data.preferred_language,
        "main_number": main,
    }
    return await _form_page(
        request, ctx, customer, customer_id, form, location_ref=location_ref, numbers=numbers
    )


@router.post("/{location_ref}/edit")
async def update(
    customer_id: str,
    location_ref: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = values_of(await portal.form_of(request, ctx), FIELDS)
    _require_write(ctx)
    customer = await _customer(request, ctx, customer_id)
    location_id = _location_id(location_ref)
    try:
        async with unit_of_work(request) as db:
            repo = LocationRepository(db, ctx.principal)
            location = await service.get(repo, location_id)
            if location.customer_id != customer.id:
                raise NotFound("Location not found")
            data = _data(form)
            data.announcement_language = location.announcement_language
            await service.update(repo, location_id, data, main_number=form["main_number"] or None)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        error, errors = _errors(exc, gettext_for(request))
        async with unit_of_work(request) as db:
            numbers = await _numbers(db, ctx, location_id) if location_id else []
        return await _form_page(
            request, ctx, customer, customer_id, form, location_ref=location_ref,
            numbers=numbers, error=error, errors=errors, status=exc.status,
        )  # fmt: skip
    return RedirectResponse(_setup(customer_id, "location_saved"), status_code=303)


async def _removal(
    request: Request, ctx: portal.PortalContext, customer: Customer, location_ref: str
) -> service.Removal:
    async with unit_of_work(request) as db:
        found = await service.removal(
            LocationRepository(db, ctx.principal), _location_id(location_ref)
        )
    if found.customer.id != customer.id:
        raise NotFound("Location not found")
    return found


async def _delete_page(
    request: Request,
    customer: Customer,
    customer_id: str,
    location_ref: str,
    found: service.Removal,
    error: str | None = None,
    status: int = 200,
) -> Response:
    refusal = service.deletion_refusal(found)
    return render(
        request,
        "locations/delete.html",
        {
            "customer": customer,
            "cid": customer_id,
            "location_ref": location_ref,
            "found": found,
            "refused": refusal is not None,
            "error": error,
        },
        status=status,
    )


@router.get("/{location_ref}/delete")
async def confirm_delete(
    customer_id: str,
    location_ref: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    _require_write(ctx)
    customer = await _customer(request, ctx, customer_id)
    found = await _removal(request, ctx, customer, location_ref)
    return await _delete_page(request, customer, customer_id, location_ref, found)


@router.post("/{location_ref}/delete")
async def delete(
    customer_id: str,
    location_ref: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    await portal.form_of(request, ctx)
    _require_write(ctx)
    customer = await _customer(request, ctx, customer_id)
    found = await _removal(request, ctx, customer, location_ref)
    try:
        async with unit_of_work(request) as db:
            await service.delete(LocationRepository(db, ctx.principal), found.location.id)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        found = await _removal(request, ctx, customer, location_ref)
        _ = gettext_for(request)
        return await _delete_page(
            request, customer, customer_id, location_ref, found, _(exc.description), exc.status
        )
    return RedirectResponse(_setup(customer_id, "location_deleted"), status_code=303)
