"""Portal pages for customers: the list, a customer's page (live while it is being
provisioned), the "Create wholesale customer" wizard, change packages, delete, and the outbox.

The wizard keeps its state in the server-side session (``data["customer_wizard"]``) and checks
each step with the same rules as the API (:mod:`partnerhub.customers.service`); Create calls
``service.provision`` with the body the API would get. Form fields map to the wire fields in
:data:`FIELD_OF`, so a refusal is shown next to the field it names.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub import ids
from partnerhub.audit import views as audit_views
from partnerhub.billing import views as billing_views
from partnerhub.catalog import geo, languages, packages, timezones
from partnerhub.catalog.statuses import CUSTOMER_STATUS_LABELS
from partnerhub.customers import api, rules, service, tasks
from partnerhub.customers.repository import (
    CustomerFilters,
    CustomerListing,
    CustomerRepository,
)
from partnerhub.customers.schemas import CustomerIn, CustomerInfoIn, CustomerUpdateIn, LocationIn
from partnerhub.errors import ApiError, Forbidden, NotFound
from partnerhub.identity import service as identity
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Customer
from partnerhub.notifications import service as notifications
from partnerhub.notifications.repository import OutboxRepository
from partnerhub.portal import messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render

router = APIRouter(prefix="/customers", include_in_schema=False)
STEPS = ("customer", "packages", "location", "summary")
WIZARD_KEY = "customer_wizard"
PAGE_SIZE = 50
STEP_LABELS = {
    "customer": N_("Customer information"),
    "packages": N_("Packages and add-ons"),
    "location": N_("Headquarters location"),
    "summary": N_("Summary"),
}
STATUS_LABELS = CUSTOMER_STATUS_LABELS
# The kinds of a customer's provisioning steps (customer_events), as the history shows them.
EVENT_LABELS = {
    "status": N_("Status"),
    "warning": N_("Warning"),
    "error": N_("Error"),
    "note": N_("Note"),
    "audit": N_("Action"),
    "customer_admin": N_("Customer administrator"),
}
ACTION_LABELS = {
    "portal.open": N_("Opened the customer's users page"),
    "user.add": N_("User added"),
    "user.package": N_("Package changed"),
    "user.remove": N_("User removed"),
    "numbers.add": N_("Numbers added to the inventory"),
}
# A provisioning warning or error on the page, by its code (the API keeps the description).
PROBLEM_TEXT = {
    service.WARNING_CODE: N_("A service is unavailable at the moment; provisioning will retry"),
    service.FAILED_CODE: N_("A service refused the change or stayed unavailable"),
    service.EMAIL_TAKEN_CODE: N_("The administrator's email already belongs to a user"),
}
SUPPORTED_MESSAGE = N_("Confirm that this customer is in a supported location")
NAME_USED_MESSAGE = N_(
    "You already have a customer named %(name)s. Tick the box below to create another one "
    "with this name, or change the name."
)
TEMPLATE_MESSAGE = N_("Choose an onboarding template")

# Wire field (as named by the service's problems) → form field.
FIELD_OF = {
    "customerInfo.name": "name",
    "customerInfo.primaryEmail": "email",
    "customerInfo.language": "language",
    "externalId": "external_id",
    "provisioningId": "template",
    "packages": "packages",
    "address.country": "country",
    "address.addressLine1": "address_line1",
    "address.addressLine2": "address_line2",
    "address.city": "city",
    "address.stateOrProvince": "state",
    "address.zipOrPostalCode": "postal_code",
    "provisioningParameters.calling.location": "location_name",
    "provisioningParameters.calling.location.name": "location_name",
    "provisioningParameters.calling.location.timezone": "timezone",
    "provisioningParameters.calling.location.language": "language",
}
for _wire, _form in list(FIELD_OF.items()):
    if _wire.startswith("address."):
        FIELD_OF["provisioningParameters.calling.location." + _wire] = _form
STEP_OF_FIELD = {
    "name": "customer",
    "email": "customer",
    "external_id": "customer",
    "country": "customer",
    "template": "customer",
    "supported": "customer",
    "packages": "packages",
}


async def _can_change(request: Request, ctx: portal.PortalContext) -> bool:
    """Whether the page offers provisioning actions: not to a suspended sub-partner, which
    may only read and delete (CONTRACT section 5)."""
    return ctx.principal.has(service.WRITE) and not await portal.partner_suspended(
        request, ctx.principal.home_partner_id
    )


def _form_field(wire: str | None) -> str:
    wire = wire or ""
    if wire in FIELD_OF:
        return FIELD_OF[wire]
    if wire.startswith("provisioningParameters.calling.location.numbers"):
        return "numbers"
    if wire.startswith("provisioningParameters.packages.limits."):
        return "limit_" + wire.rsplit(".", 1)[1]
    return wire


def split_numbers(text: str | None) -> list[str]:
    """The HQ location's phone numbers typed one per line or separated by commas."""
    return [n.strip() for n in re.split(r"[,;\n]+", text or "") if n.strip()]


def _errors(problems: list[ApiError], lang: str) -> dict[str, str]:
    """``{form field: message}``: each problem in the reader's words (``portal.messages``)."""
    return messages.field_messages(problems, lang, _form_field)


def _problems(exc: ApiError) -> list[ApiError]:
    return list(getattr(exc, "problems", None) or [exc])


def customer_path(customer: Customer | CustomerListing) -> str:
    return f"/customers/{api.customer_id(customer)}"


def _country_name(lang: str) -> Any:
    return lambda code: geo.country_name(code, lang) or code


def _lang(ctx: portal.PortalContext) -> str:
    return ctx.session.language if ctx.session else "en"


# --- list ----------------------------------------------------------------------------------


@router.get("")
async def list_page(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    query = request.query_params
    search = (query.get("q") or "").strip()[:100] or None
    status = query.get("status") or ""
    try:
        offset = max(int(query.get("offset") or 0), 0)
    except ValueError:
        offset = 0
    filters = CustomerFilters(
        search=search, statuses=[status] if status in service.STATUSES else []
    )
    async with unit_of_work(request) as db:
        repo = CustomerRepository(db, ctx.principal)
        rows = await service.list_customers(repo, filters, offset, PAGE_SIZE + 1)
    params = {k: v for k, v in (("q", search or ""), ("status", status)) if v}
    prev_url = (
        "/customers?" + urlencode({**params, "offset": max(offset - PAGE_SIZE, 0)})
        if offset
        else None
    )
    next_url = (
        "/customers?" + urlencode({**params, "offset": offset + PAGE_SIZE})
        if len(rows) > PAGE_SIZE
        else None
    )
    return render(
        request,
        "customers/list.html",
        {
            "customers": rows[:PAGE_SIZE],
            "search": search or "",
            "status": status,
            "statuses": service.STATUSES,
            "status_labels": STATUS_LABELS,
            "prev_url": prev_url,
            "next_url": next_url,
            "offset": offset,
            "path": customer_path,
            "can_write": ctx.principal.has(service.WRITE),
            "can_change": await _can_change(request, ctx),
            "deleted": query.get("deleted") == "1",
        },
    )


# --- outbox --------------------------------------------------------------------------------


@router.get("/outbox")
async def outbox(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    ctx.principal.require(service.READ)
    search = (request.query_params.get("q") or "").strip()[:100] or None
    async with unit_of_work(request) as db:
        mails = await OutboxRepository(db, ctx.principal).page(0, 200, search)
    return render(request, "customers/outbox.html", {"mails": mails, "search": search or ""})


@router.get("/outbox/{email_id}")
async def outbox_email(
    email_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    ctx.principal.require(service.READ)
    try:
        key = uuid.UUID(email_id)
    except ValueError:
        raise NotFound("Email not found") from None
    async with unit_of_work(request) as db:
        mail = await OutboxRepository(db, ctx.principal).get(key)
    if mail is None:
        raise NotFound("Email not found")
    # The single-use links an email carries belong to its recipient alone; the
    # outbox shows the text with them hidden (the machine's operator: `partnerhub outbox show`).
    return render(
        request,
        "customers/outbox_email.html",
        {"mail": mail, "body": notifications.masked(mail.body_text)},
    )


# --- the wizard ----------------------------------------------------------------------------


async def _save_wizard(request: Request, ctx: portal.PortalContext, state: dict[str, Any]) -> None:
    assert ctx.session is not None
    async with unit_of_work(request) as db:
        await identity.save_session_state(db, ctx.session, WIZARD_KEY, state)


def _require_write(ctx: portal.PortalContext) -> None:
    if not ctx.principal.has(service.WRITE):
        raise Forbidden("Your role cannot create or change customers")


def body_of(data: dict[str, Any]) -> CustomerIn:
    """The API body the wizard's answers amount to (the HQ address is the billing address),
    read by the API's input schema."""
    address = {
        "addressLine1": data.get("address_line1"),
        "addressLine2": data.get("address_line2"),
        "city": data.get("city"),
        "stateOrProvince": data.get("state"),
        "zipOrPostalCode": data.get("postal_code"),
        "country": data.get("country"),
    }
    address = {k: v for k, v in address.items() if v}
    limits = {
        p: int(v)
        for p, v in (data.get("limits") or {}).items()
        if p in (data.get("packages") or []) and str(v).strip().isdigit()
    }
    params: dict[str, Any] = {
        "calling": {
            "location": {
                "name": data.get("location_name"),
                "address": address,
                "timezone": data.get("timezone"),
                "language": data.get("language"),
            }
        }
    }
    if packages.has_calling(data.get("packages") or []) and split_numbers(data.get("numbers")):
        # Legacy ``calling.location.numbers``: they go into the HQ location's inventory.
        params["calling"]["location"]["numbers"] = split_numbers(data.get("numbers"))
    if limits:
        params["packages"] = {"limits": limits}
    body: dict[str, Any] = {
        "provisioningId": data.get("template"),
        "packages": list(data.get("packages") or []),
        "externalId": data.get("external_id"),
        "address": address,
        "customerInfo": {
            "name": data.get("name"),
            "primaryEmail": data.get("email"),
            **({"language": data["language"]} if data.get("language") else {}),
        },
        "provisioningParameters": params,
    }
    return CustomerIn.model_validate(body)


async def check_step(
    request: Request, ctx: portal.PortalContext, step: str, data: dict[str, Any]
) -> dict[str, str]:
    """The problems of one step, as ``{form field: message}``; the API's rules."""
    _ = gettext_for(request)
    problems = rules.Problems()
    errors: dict[str, str] = {}
    if step == "customer":
        info = rules.check_customer_info(
            problems, CustomerInfoIn(name=data.get("name"), primary_email=data.get("email"))
        )
        external = rules.checked_text(
            problems,
            "externalId",
            data.get("external_id"),
            required=True,
            max_length=rules.EXTERNAL_ID_MAX,
        )
        country = (data.get("country") or "").strip().upper()
        data["country"] = country
        if not country:
            problems.missing("address.country")
        elif geo.country(country) is None:
            problems.invalid(
                "address.country",
                f"'{country}' is not an ISO 3166-1 alpha-2 code",
                "unknown",
                value=country,
            )
        errors = _errors(problems, language(request))
        async with unit_of_work(request) as db:
            repo = CustomerRepository(db, ctx.principal)
            templates = {t.provisioning_id for t in await repo.templates()}
            if not errors.get("external_id") and not errors.get("email"):
                # The POST's own refusals (externalId taken; the administrator's email taken,
                # or at a domain another partner family's identity provider claims).
                found = await service.contact_problems(repo, external, info.get("primaryEmail"))
                errors.update(_errors(found, language(request)))
            # A company name already used is allowed (two shops may share a name), but only
            # once the administrator confirms it: a warning at this step, not a refusal.
            name = str(data.get("name") or "").strip()
            if name and not errors.get("name") and data.get("name_confirmed") != name.lower():
                if await repo.name_used(name):
                    errors["name"] = _(NAME_USED_MESSAGE) % {"name": name}
                    data["name_warning"] = True
        if data.get("template") not in templates:
            errors["template"] = _(TEMPLATE_MESSAGE)
        if not data.get("supported"):
            errors["supported"] = _(SUPPORTED_MESSAGE)
    elif step == "packages":
        chosen = rules.check_packages(problems, data.get("packages") or [])
        raw_limits = {p: v for p, v in (data.get("limits") or {}).items() if str(v).strip()}
        limits: dict[str, Any] = {}
        for pkg, value in raw_limits.items():
            text = str(value).strip()
            limits[pkg] = int(text) if text.isdigit() else text
        if limits:
            rules.check_limits(problems, {p: v for p, v in limits.items() if p in chosen}, chosen)
        errors = _errors(problems, language(request))
    elif step == "location":
        location = body_of(data).provisioning_parameters
        assert location is not None and location.calling is not None
        rules.check_location(problems, location.calling.location or LocationIn())
        errors = _errors(problems, language(request))
    return errors


def _reachable(state: dict[str, Any], step: str) -> bool:
    done = set(state.get("done") or [])
    return all(s in done for s in STEPS[: STEPS.index(step)])


async def _step_page(
    request: Request,
    ctx: portal.PortalContext,
    step: str,
    state: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    general_error: str | None = None,
) -> Response:
    lang = _lang(ctx)
    _ = gettext_for(request)
    data = state.get("data") or {}
    async with unit_of_work(request) as db:
        templates = await CustomerRepository(db, ctx.principal).templates()
    country = data.get("country") or ""
    zones = timezones.timezones_for_country(country) or sorted(timezones.all_timezones())
    chosen_template = next(
        (t for t in templates if t.provisioning_id == data.get("template")), None
    )
    return render(
        request,
        f"customers/wizard_{step}.html",
        {
            "step": step,
            "steps": STEPS,
            "step_labels": STEP_LABELS,
            "done": state.get("done") or [],
            "data": data,
            "errors": errors or {},
            "general_error": general_error,
            "templates": templates,
            "template": chosen_template,
            "countries": geo.country_choices(lang),
            "country_name": _country_name(lang),
            "packages": [packages.PACKAGES[p] for p in packages.CUSTOMER_PACKAGES],
            "requires": lambda p: [
                _(packages.PACKAGES[r].label)
                for r in packages.PACKAGES
                if r in packages.PACKAGES[p].requires_one_of
            ],
            "timezones": zones,
            "languages": [
                (code, languages.language_label(code, lang))
                for code in languages.SUPPORTED_EMAIL_LANGUAGES
            ],
            "language_label": lambda code: languages.language_label(code, lang),
            "has_calling": packages.has_calling(data.get("packages") or []),
            "hq_numbers": split_numbers(data.get("numbers")),
            "fix": state.get("fix"),
        },
        status=status,
    )


@router.get("/new")
async def new(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_active_admin)
) -> Response:
    _require_write(ctx)
    await _save_wizard(request, ctx, {"data": {}, "done": []})
    return RedirectResponse("/customers/wizard/customer", status_code=303)


@router.get("/wizard/{step}")
async def wizard_step(
    step: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_active_admin)
) -> Response:
    _require_write(ctx)
    state = identity.session_state(ctx.session, WIZARD_KEY)
    if step not in STEPS or not state:
        return RedirectResponse("/customers/new", status_code=303)
    if not _reachable(state, step):
        first = next(s for s in STEPS if s not in (state.get("done") or []))
        return RedirectResponse(f"/customers/wizard/{first}", status_code=303)
    return await _step_page(request, ctx, step, state)


def _read_step(step: str, form: Any, data: dict[str, Any]) -> None:
    if step == "customer":
        for key in ("name", "email", "external_id", "country", "template"):
            data[key] = str(form.get(key) or "").strip()
        data.pop("name_warning", None)
        if form.get("confirm_name") in ("on", "true", "1"):
            data["name_confirmed"] = data["name"].lower()
        data["supported"] = form.get("supported") in ("on", "true", "1")
    elif step == "packages":
        data["packages"] = [p for p in form.getlist("packages") if p in packages.CUSTOMER_PACKAGES]
        data["limits"] = {
            p: str(form.get(f"limit_{p}") or "").strip() for p in packages.CUSTOMER_PACKAGES
        }
    elif step == "location":
        for key in (
            "location_name",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
            "timezone",
            "language",
            "numbers",
        ):
            data[key] = str(form.get(key) or "").strip()


@router.post("/wizard/{step}")
async def wizard_submit(
    step: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_active_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    _require_write(ctx)
    state = identity.session_state(ctx.session, WIZARD_KEY)
    if step not in STEPS or not state or not _reachable(state, step):
        return RedirectResponse("/customers/new", status_code=303)
    if step == "summary":
        return await _create(request, ctx, state)
    data = dict(state.get("data") or {})
    _read_step(step, form, data)
    errors = await check_step(request, ctx, step, data)
    state["data"] = data
    if errors:
        state["done"] = [s for s in state.get("done") or [] if STEPS.index(s) < STEPS.index(step)]
        await _save_wizard(request, ctx, state)
        return await _step_page(request, ctx, step, state, errors=errors, status=400)
    done = set(state.get("done") or [])
    done.add(step)
    state["done"] = sorted(done, key=STEPS.index)
    await _save_wizard(request, ctx, state)
    nxt = STEPS[STEPS.index(step) + 1]
    if form.get("return_to") == "summary" and _reachable(state, "summary"):
        nxt = "summary"
    return RedirectResponse(f"/customers/wizard/{nxt}", status_code=303)


async def _create(request: Request, ctx: portal.PortalContext, state: dict[str, Any]) -> Response:
    _ = gettext_for(request)
    data = state.get("data") or {}
    try:
        async with unit_of_work(request) as db:
            # The provisioning job is written with the customer (service.create).
            customer = await service.provision(CustomerRepository(db, ctx.principal), body_of(data))
    except ApiError as exc:
        problems = _problems(exc)
        errors = _errors(problems, language(request))
        fix = next((STEP_OF_FIELD.get(f, "location") for f in errors), None)
        return await _step_page(
            request,
            ctx,
            "summary",
            {**state, "fix": fix},
            errors=errors,
            status=exc.status,
            general_error=messages.describe(problems[0], language(request)),
        )
    await _save_wizard(request, ctx, {})
    return RedirectResponse(customer_path(customer) + "?created=1", status_code=303)


# --- a customer ----------------------------------------------------------------------------


async def _customer(request: Request, ctx: portal.PortalContext, customer_id: str) -> Customer:
    async with unit_of_work(request) as db:
        return await service.get(
            CustomerRepository(db, ctx.principal), ids.decode("CUSTOMER", customer_id)
        )


def _detail_context(customer: Customer, lang: str) -> dict[str, Any]:
    entries = (customer.resource_details or {}).get("packages") or []
    return {
        "customer": customer,
        "cid": api.customer_id(customer),
        "org_id": api.org_id(customer),
        "entries": entries,
        "busy": customer.status in service.BUSY,
        "status_labels": STATUS_LABELS,
        "problem_text": PROBLEM_TEXT,
        "country_name": _country_name(lang),
    }


@router.get("/{customer_id}")
async def detail(
    customer_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _detail_page(request, ctx, customer_id)


async def _detail_page(
    request: Request,
    ctx: portal.PortalContext,
    customer_id: str,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    chosen: list[str] | None = None,
) -> Response:
    async with unit_of_work(request) as db:
        repo = CustomerRepository(db, ctx.principal)
        customer = await service.get(repo, ids.decode("CUSTOMER", customer_id))
        admins = await repo.administrators(customer.id)
        events = await repo.events(customer.id, 20)
        mails = await OutboxRepository(db, ctx.principal).for_customer(customer.id)
        usage = await billing_views.customer_usage(db, ctx.principal, customer.id)
        history = await audit_views.history_context(
            db,
            ctx.principal,
            customer.id,
            audit_views.query_of(request.query_params),
            gettext_for(request),
        )
    lang = _lang(ctx)
    return render(
        request,
        "customers/detail.html",
        {
            **_detail_context(customer, lang),
            "admins": admins,
            "events": events,
            "event_labels": EVENT_LABELS,
            **history,
            "action_labels": ACTION_LABELS,
            "mails": mails,
            "usage": usage,
            "packages": [packages.PACKAGES[p] for p in packages.CUSTOMER_PACKAGES],
            "chosen": chosen if chosen is not None else list(customer.packages or []),
            "has_location": bool((customer.provisioning_parameters or {}).get("calling")),
            "can_write": ctx.principal.has(service.WRITE),
            "can_change": await _can_change(request, ctx),
            "created": request.query_params.get("created") == "1",
            "errors": errors or {},
            "error": error,
            "settings": customer.settings or {},
        },
        status=status,
    )


@router.get("/{customer_id}/status")
async def status_fragment(
    customer_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    """The status part of the customer page, polled by the page while it is busy."""
    customer = await _customer(request, ctx, customer_id)
    return render(request, "customers/_status.html", _detail_context(customer, _lang(ctx)))


@router.post("/{customer_id}/packages")
async def change_packages(
    customer_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    _require_write(ctx)
    chosen = [p for p in form.getlist("packages") if p in packages.CUSTOMER_PACKAGES]
    try:
        async with unit_of_work(request) as db:
            customer = await service.update(
                CustomerRepository(db, ctx.principal),
                ids.decode("CUSTOMER", customer_id),
                CustomerUpdateIn(packages=chosen),
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        problems = _problems(exc)
        return await _detail_page(
            request,
            ctx,
            customer_id,
            errors=_errors(problems, language(request)),
            error=messages.describe(problems[0], language(request)),
            status=exc.status,
            chosen=chosen,
        )
    if customer.status in service.BUSY:
        await tasks.enqueue(customer.id)
    return RedirectResponse(customer_path(customer), status_code=303)


@router.get("/{customer_id}/delete")
async def confirm_delete(
    customer_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    _require_write(ctx)
    async with unit_of_work(request) as db:
        repo = CustomerRepository(db, ctx.principal)
        customer = await service.get(repo, ids.decode("CUSTOMER", customer_id))
        lost = await service.holdings(repo, customer)
    return render(
        request,
        "customers/delete.html",
        {
            "customer": customer,
            "cid": customer_id,
            "busy": customer.status in service.BUSY,
            "lost": lost,
        },
    )


async def _lifecycle(
    request: Request,
    ctx: portal.PortalContext,
    customer_id: str,
    step: Callable[[CustomerRepository, uuid.UUID | None], Awaitable[Customer]],
) -> Response:
    """A lifecycle button (delete, approve): ``step`` in one transaction, its job queued, the
    customer's page; a refusal shows the page again with its message."""
    await portal.form_of(request, ctx)
    _require_write(ctx)
    try:
        async with unit_of_work(request) as db:
            customer = await step(
                CustomerRepository(db, ctx.principal), ids.decode("CUSTOMER", customer_id)
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(
            request,
            ctx,
            customer_id,
            error=messages.described(exc, language(request)),
            status=exc.status,
        )
    await tasks.enqueue(customer.id)
    return RedirectResponse(customer_path(customer), status_code=303)


@router.post("/{customer_id}/delete")
async def delete(
    customer_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _lifecycle(request, ctx, customer_id, service.delete)


@router.post("/{customer_id}/approve")
async def approve(
    customer_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    return await _lifecycle(request, ctx, customer_id, service.approve)
