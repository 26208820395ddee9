"""Portal pages for onboarding templates: list, the creation wizard (S5-S12), detail, edit.

The wizard keeps its state in the server-side session (``data["template_wizard"]``), validates
each step with the same service rules as the API, and keeps what was typed when it refuses.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub import ids
from partnerhub.catalog import geo, languages, regions
from partnerhub.errors import ApiError, Forbidden
from partnerhub.identity.repository import CredentialRepository
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import session as portal
from partnerhub.portal.render import gettext_for, render
from partnerhub.templates import service
from partnerhub.templates.repository import TemplateRepository
from partnerhub.templates.service import TemplateData

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


def _wizard(ctx: portal.PortalContext) -> dict[str, Any]:
    data = (ctx.session.data or {}) if ctx.session else {}
    state = data.get(WIZARD_KEY)
    return dict(state) if isinstance(state, dict) else {}


async def _save_wizard(request: Request, ctx: portal.PortalContext, state: dict[str, Any]) -> None:
    assert ctx.session is not None
    async with unit_of_work(request) as db:
        record = await CredentialRepository(db).session_by_hash(ctx.session.token_hash)
        if record is not None:
            record.data = {**(record.data or {}), WIZARD_KEY: state}
    ctx.session.data = {**(ctx.session.data or {}), WIZARD_KEY: state}


def _detail_url(template_id: uuid.UUID) -> str:
    return f"/customers/templates/{ids.encode('TEMPLATE', template_id)}"


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
        "templates/list.html",
        {
            "templates": templates,
            "counts": counts,
            "tid": lambda t: ids.encode("TEMPLATE", t.id),
            "can_write": ctx.principal.has(service.WRITE),
            "country_name": _country_name,
        },
    )


def _country_name(code: str) -> str:
    country = geo.country(code)
    return country.name if country is not None else code


@router.get("/new")
async def new(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    if not ctx.principal.has(service.WRITE):
        raise Forbidden("Your role cannot create templates")
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
    errors: dict[str, str] | None = None,
    status: int = 200,
    general_error: str | None = None,
) -> Response:
    pctx = await _context(request, ctx)
    lang = ctx.session.language if ctx.session else "en"
    data = TemplateData.from_dict(state.get("data") or {})
    return render(
        request,
        f"templates/wizard_{step}.html",
        {
            "step": step,
            "steps": STEPS,
            "data": data,
            "errors": errors or {},
            "general_error": general_error,
            "editing": state.get("editing"),
            "return_to": request.query_params.get("return_to", ""),
            "admins": pctx.admins,
            "pstn_providers": pctx.pstn_providers,
            "platform_calling_available": pctx.platform_calling_available,
            "countries": geo.country_choices(lang),
            "email_languages": [
                (code, languages.language_label(code, lang))
                for code in languages.SUPPORTED_EMAIL_LANGUAGES
            ],
            "regions": regions.REGIONS,
            "country_name": _country_name,
        },
        status=status,
    )


@router.get("/wizard/{step}")
async def wizard_step(
    step: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    state = _wizard(ctx)
    if step not in STEPS or not state:
        return RedirectResponse("/customers/templates/new", status_code=303)
    return await _step_page(request, ctx, step, state)


@router.post("/wizard/{step}")
async def wizard_submit(
    step: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    state = _wizard(ctx)
    if step not in STEPS or not state:
        return RedirectResponse("/customers/templates/new", status_code=303)
    if not ctx.principal.has(service.WRITE):
        raise Forbidden("Your role cannot create or change templates")
    _ = gettext_for(request)
    if step == "review":
        return await _submit(request, ctx, state)
    data = TemplateData.from_dict(state.get("data") or {})
    for fld in STEP_FIELDS[step]:
        if fld in BOOLEAN_FIELDS:
            setattr(data, fld, form.get(fld) in ("on", "true", "1"))
        else:
            value = form.get(fld)
            setattr(data, fld, str(value) if value is not None else None)
    problems = service.check_section(step, data, await _context(request, ctx))
    state["data"] = data.as_dict()
    if problems:
        await _save_wizard(request, ctx, state)
        errors = {p.field or "": _(p.description) for p in problems}
        return await _step_page(request, ctx, step, state, errors=errors, status=400)
    done = set(state.get("done") or [])
    done.add(step)
    state["done"] = sorted(done)
    await _save_wizard(request, ctx, state)
    if form.get("return_to") == "review" or state.get("editing"):
        return RedirectResponse("/customers/templates/wizard/review", status_code=303)
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
        problems = getattr(exc, "problems", None) or [exc]
        errors = {p.field or "": _(p.description) for p in problems}
        return await _step_page(
            request,
            ctx,
            "review",
            state,
            errors=errors,
            status=exc.status,
            general_error=_(problems[0].description),
        )
    await _save_wizard(request, ctx, {})
    return RedirectResponse(_detail_url(template.id) + "?saved=1", status_code=303)


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
        template = await service.get(repo, ids.decode("TEMPLATE", template_id))
        emails = await repo.admin_emails({template.service_provider_admin_id})
        used = (await repo.usage_counts([template.id])).get(template.id, 0)
    return render(
        request,
        "templates/detail.html",
        {
            "template": template,
            "tid": template_id,
            "admin_email": emails.get(template.service_provider_admin_id, ""),
            "used": used,
            "saved": request.query_params.get("saved") == "1",
            "error": error,
            "can_write": ctx.principal.has(service.WRITE),
            "country_name": _country_name,
            "language_label": languages.language_label,
        },
        status=status,
    )


@router.get("/{template_id}/edit")
async def edit(
    template_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    if not ctx.principal.has(service.WRITE):
        raise Forbidden("Your role cannot change templates")
    async with unit_of_work(request) as db:
        repo = TemplateRepository(db, ctx.principal)
        template = await service.get(repo, ids.decode("TEMPLATE", template_id))
        emails = await repo.admin_emails({template.service_provider_admin_id})
    data = service.data_of(template, emails.get(template.service_provider_admin_id, ""))
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
    _ = gettext_for(request)
    try:
        async with unit_of_work(request) as db:
            await service.delete(
                TemplateRepository(db, ctx.principal), ids.decode("TEMPLATE", template_id)
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(
            request, ctx, template_id, error=_(exc.description), status=exc.status
        )
    return RedirectResponse("/customers/templates", status_code=303)
