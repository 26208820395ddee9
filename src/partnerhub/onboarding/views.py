"""Portal pages for onboarding templates: list, the creation wizard, detail, edit.

The wizard keeps its state in the server-side session (``data["template_wizard"]``), validates
each step with the same service rules as the API, and keeps what was typed when it refuses.
Steps open in order: a step is reachable once every step before it was accepted; review is
reachable once all of them were. An Edit link on review opens its step with
``?return_to=review``; saving that step returns to review.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub import ids
from partnerhub.catalog import geo, languages, regions
from partnerhub.errors import ApiError, Conflict, Forbidden
from partnerhub.identity import service as identity
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Template
from partnerhub.onboarding import service
from partnerhub.onboarding.repository import TemplateRepository
from partnerhub.onboarding.service import TemplateData
from partnerhub.portal import messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_, territory_label, translations
from partnerhub.portal.render import gettext_for, render

router = APIRouter(prefix="/customers/templates", include_in_schema=False)
STEPS = ("offer", "core", "calling", "authentication", "email", "review")
WIZARD_KEY = "template_wizard"
BOOLEAN_FIELDS = {"allow_admin_invite_on_link", "allow_platform_calling", "require_approval"}
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "offer": ("offer",),
    "core": (
        "name",
        "service_provider_admin_email",
        "country",
        "default_email_language",
        "wholesale_subscription_id",
        "data_region",
        "require_approval",
    ),
    "calling": ("pstn_provider",),
    "authentication": ("auth_method", "idp_entity_id", "oidc_idp_name"),
    "email": ("brand_name", "allow_admin_invite_on_link", "allow_platform_calling"),
}
# Which step owns a field (to point a refusal at submit time to the step that fixes it).
FIELD_STEP = {fld: step for step, fields in STEP_FIELDS.items() for fld in fields}

IN_USE = "The template '%(name)s' is used by %(count)s customer(s) and cannot be deleted"
"""The service's (API's) English; the page says it with a plural form (ngettext)."""


async def _save_wizard(request: Request, ctx: portal.PortalContext, state: dict[str, Any]) -> None:
    assert ctx.session is not None
    async with unit_of_work(request) as db:
        await identity.save_session_state(db, ctx.session, WIZARD_KEY, state)


CANNOT_WRITE = N_("Your role cannot create or change templates")


def _require_write(ctx: portal.PortalContext, message: str) -> None:
    if not ctx.principal.has(service.WRITE):
        raise Forbidden(message)


def _detail_url(template_id: uuid.UUID) -> str:
    return f"/customers/templates/{ids.encode('TEMPLATE', template_id, ids.HUB)}"


def _lang(ctx: portal.PortalContext) -> str:
    return ctx.session.language if ctx.session else "en"


def _labels(lang: str) -> dict[str, Callable[[str], str]]:
    """The pages' functions that name a country, a language and a data region in *lang*."""
    return {
        "country_name": lambda code: geo.country_name(code, lang) or code,
        "language_label": lambda code: languages.language_label(code, lang) if code else "",
        "region_label": lambda code: (
            territory_label(code, lang) if regions.is_region(code) else code
        ),
    }


def _first_open_step(state: dict[str, Any]) -> str:
    done = set(state.get("done") or [])
    return next((s for s in STEPS[:-1] if s not in done), "review")


def _return_to(value: object) -> str:
    return "review" if value == "review" else ""


@router.get("")
async def list_page(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    async with unit_of_work(request) as db:
        repo = TemplateRepository(db, ctx.principal)
        templates = await service.list_templates(repo, 0, 1000)
        counts = await repo.usage_counts([t.id for t in templates])
    return render(
        request,
        "onboarding/list.html",
        {
            "templates": templates,
            "counts": counts,
            "tid": lambda t: ids.encode("TEMPLATE", t.id, ids.HUB),
            "can_write": ctx.principal.has(service.WRITE),
            "country_name": _labels(_lang(ctx))["country_name"],
            "deleted": request.query_params.get("deleted") == "1",
        },
    )


@router.get("/new")
async def new(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    _require_write(ctx, N_("Your role cannot create templates"))
    await _save_wizard(request, ctx, {"data": TemplateData().as_dict(), "done": []})
    return RedirectResponse("/customers/templates/wizard/offer", status_code=303)


async def _context(request: Request, ctx: portal.PortalContext) -> service.PartnerContext:
    async with unit_of_work(request) as db:
        return await service.partner_context(TemplateRepository(db, ctx.principal))


async def _step_page(
    request: Request,
    ctx: portal.PortalContext,
    step: str,
    state: dict[str, Any],
    *,
    return_to: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
    general_error: str | None = None,
) -> Response:
    pctx = await _context(request, ctx)
    lang = _lang(ctx)
    data = TemplateData.from_dict(state.get("data") or {})
    done = set(state.get("done") or [])
    return render(
        request,
        f"onboarding/wizard_{step}.html",
        {
            "step": step,
            "steps": STEPS,
            "done": done,
            "data": data,
            "errors": errors or {},
            "error_steps": {FIELD_STEP.get(f) for f in errors or {}},
            "general_error": general_error,
            "editing": state.get("editing"),
            "return_to": return_to,
            "admins": pctx.admins,
            "pstn_providers": pctx.pstn_providers,
            "platform_calling_available": pctx.platform_calling_available,
            "countries": geo.country_choices(lang),
            "email_languages": [
                (code, languages.language_label(code, lang))
                for code in languages.SUPPORTED_EMAIL_LANGUAGES
            ],
            "regions": [(code, territory_label(code, lang)) for code in regions.REGIONS],
            **_labels(lang),
        },
        status=status,
    )


def _open_step(ctx: portal.PortalContext, step: str) -> dict[str, Any] | Response:
    """The wizard's state when *step* can be shown now; otherwise where to go instead."""
    _require_write(ctx, CANNOT_WRITE)
    state = identity.session_state(ctx.session, WIZARD_KEY)
    if step not in STEPS or not state:
        return RedirectResponse("/customers/templates/new", status_code=303)
    first_open = _first_open_step(state)
    if STEPS.index(step) > STEPS.index(first_open):
        return RedirectResponse(f"/customers/templates/wizard/{first_open}", status_code=303)
    return state


@router.get("/wizard/{step}")
async def wizard_step(
    step: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    state = _open_step(ctx, step)
    if isinstance(state, Response):
        return state
    return_to = _return_to(request.query_params.get("return_to"))
    return await _step_page(request, ctx, step, state, return_to=return_to)


@router.post("/wizard/{step}")
async def wizard_submit(
    step: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    state = _open_step(ctx, step)
    if isinstance(state, Response):
        return state
    _ = gettext_for(request)
    if step == "review":
        return await _submit(request, ctx, state)
    return_to = _return_to(form.get("return_to"))
    data = TemplateData.from_dict(state.get("data") or {})
    for fld in STEP_FIELDS[step]:
        if fld in BOOLEAN_FIELDS:
            setattr(data, fld, form.get(fld) in ("on", "true", "1"))
        else:
            value = form.get(fld)
            setattr(data, fld, str(value) if value is not None else None)
    problems = service.check_section(step, data, await _context(request, ctx))
    if "name" in STEP_FIELDS[step] and not any(p.field == "name" for p in problems):
        # a name another template has is refused at this step, not only at Submit
        editing = state.get("editing")
        async with unit_of_work(request) as db:
            taken = await service.name_problem(
                TemplateRepository(db, ctx.principal),
                data.name,
                uuid.UUID(editing) if editing else None,
            )
        if taken is not None:
            problems.append(taken)
    state["data"] = data.as_dict()
    if problems:
        await _save_wizard(request, ctx, state)
        errors = {p.field or "": messages.describe(p, _lang(ctx)) for p in problems}
        return await _step_page(
            request, ctx, step, state, return_to=return_to, errors=errors, status=400
        )
    done = set(state.get("done") or [])
    done.add(step)
    state["done"] = [s for s in STEPS if s in done]
    await _save_wizard(request, ctx, state)
    if return_to == "review" or state.get("editing"):
        target = _first_open_step(state)  # review, unless an earlier step is still open
        return RedirectResponse(f"/customers/templates/wizard/{target}", status_code=303)
    nxt = STEPS[STEPS.index(step) + 1]
    return RedirectResponse(f"/customers/templates/wizard/{nxt}", status_code=303)


async def _submit(request: Request, ctx: portal.PortalContext, state: dict[str, Any]) -> Response:
    _ = gettext_for(request)
    data = TemplateData.from_dict(state.get("data") or {})
    editing = state.get("editing")
    try:
        async with unit_of_work(request) as db:
            repo = TemplateRepository(db, ctx.principal)
            if editing:
                template = await service.update(repo, uuid.UUID(editing), data)
            else:
                template = await service.create(repo, data)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        problems = getattr(exc, "problems", None) or [exc]
        errors = {p.field or "": messages.describe(p, _lang(ctx)) for p in problems}
        return await _step_page(request, ctx, "review", state, errors=errors, status=exc.status)
    await _save_wizard(request, ctx, {})
    return RedirectResponse(_detail_url(template.id) + "?saved=1", status_code=303)


async def _template_of(repo: TemplateRepository, template_id: str) -> tuple[Template, str]:
    """The template of the URL and its administrator's email."""
    template = await service.get(repo, ids.decode("TEMPLATE", template_id))
    emails = await repo.admin_emails({template.service_provider_admin_id})
    return template, emails.get(template.service_provider_admin_id, "")


@router.get("/{template_id}")
async def detail(
    template_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _detail_page(request, ctx, template_id)


async def _detail_page(
    request: Request,
    ctx: portal.PortalContext,
    template_id: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    async with unit_of_work(request) as db:
        repo = TemplateRepository(db, ctx.principal)
        template, admin_email = await _template_of(repo, template_id)
        used = (await repo.usage_counts([template.id])).get(template.id, 0)
    lang = _lang(ctx)
    return render(
        request,
        "onboarding/detail.html",
        {
            "template": template,
            "tid": template_id,
            "admin_email": admin_email,
            "used": used,
            "saved": request.query_params.get("saved") == "1",
            "error": error,
            "can_write": ctx.principal.has(service.WRITE),
            **_labels(lang),
        },
        status=status,
    )


@router.get("/{template_id}/edit")
async def edit(
    template_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    _require_write(ctx, CANNOT_WRITE)
    async with unit_of_work(request) as db:
        template, admin_email = await _template_of(
            TemplateRepository(db, ctx.principal), template_id
        )
    data = service.data_of(template, admin_email)
    await _save_wizard(
        request,
        ctx,
        {"data": data.as_dict(), "done": list(STEPS[:-1]), "editing": str(template.id)},
    )
    return RedirectResponse("/customers/templates/wizard/review", status_code=303)


@router.post("/{template_id}/delete")
async def delete(
    template_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    await portal.form_of(request, ctx)
    _require_write(ctx, N_("Your role cannot delete templates"))
    _ = gettext_for(request)
    name, used = "", 0
    try:
        async with unit_of_work(request) as db:
            repo = TemplateRepository(db, ctx.principal)
            template_uuid = ids.decode("TEMPLATE", template_id)
            template = await service.get(repo, template_uuid)
            name = template.name
            used = (await repo.usage_counts([template.id])).get(template.id, 0)
            await service.delete(repo, template_uuid)
    except Conflict as exc:
        params = {"name": name, "count": used}
        english = IN_USE % params
        if english == exc.description:
            text = (
                translations(_lang(ctx)).ngettext(
                    "The template '%(name)s' is used by %(count)s customer and cannot be deleted",
                    "The template '%(name)s' is used by %(count)s customers and cannot be deleted",
                    used,
                )
                % params
            )
        else:
            text = messages.describe(exc, _lang(ctx))
        return await _detail_page(request, ctx, template_id, error=text, status=exc.status)
    return RedirectResponse("/customers/templates?deleted=1", status_code=303)
