"""Portal pages: the partner's sub-partners (list, create, suspend or reactivate after a
confirmation, administrators), and the page where an invited partner administrator chooses a
first password.

Every signed-in role may look (scope ``spark-admin:wholesale_sub_partners_read``); only full
administrators (``partnerhub:sub_partners_write``) change anything (403 otherwise). Another
partner's sub-partner is not found (404).
"""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.catalog.roles import PARTNER_ROLES, SUB_PARTNERS_WRITE
from partnerhub.errors import ApiError, NotFound
from partnerhub.identity.org_auth import LinkRefused, deliver_later
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Partner, PartnerAdmin
from partnerhub.partners import invitations, service
from partnerhub.partners.repository import PartnerRepository
from partnerhub.portal import forms, messages
from partnerhub.portal import session as portal
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.sso.signin_views import link_refused, set_password_page

router = APIRouter(include_in_schema=False)
ACTIONS = {"suspend": "suspended", "reactivate": "active"}


def ref(partner: Partner) -> str:
    return service.org_id(partner)


def _sub_id(sub_ref: str) -> uuid.UUID:
    sub_id = ids.decode("ORGANIZATION", sub_ref)
    if sub_id is None:
        raise NotFound("No sub-partner of yours has this organization id")
    return sub_id


async def _list_page(
    request: Request,
    ctx: portal.PortalContext,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with unit_of_work(request) as db:
        subs = await service.list_sub_partners(PartnerRepository(db, ctx.principal), None, 0, 1000)
    return forms.form_page(
        request,
        "partners/sub_partners.html",
        {
            "subs": subs,
            "ref": ref,
            "can_manage": ctx.principal.has(SUB_PARTNERS_WRITE),
        },
        error,
        status,
        form,
    )


forms.show(router, "/sub-partners", _list_page, "sub_partners")


@router.post("/sub-partners")
async def create_sub_partner(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_active_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    values = forms.values_of(form, ("name", "admin_email", "admin_name"))
    wanted = service.NewPartner(
        name=values["name"], admin_email=values["admin_email"], admin_name=values["admin_name"]
    )

    async def create(db: AsyncSession) -> tuple[Partner, uuid.UUID | None]:
        created = await service.create_sub_partner(PartnerRepository(db, ctx.principal), wanted)
        return created.partner, await _invite(db, ctx, created.admin, created.partner)

    refused = partial(_list_page, request, ctx, form=values)
    outcome = await forms.attempt(request, create, refused, passthrough=(403,))
    if isinstance(outcome, Response):
        return outcome
    await deliver_later(outcome[1])
    return RedirectResponse(f"/sub-partners/{ref(outcome[0])}?created=1", status_code=303)


async def _invite(
    db: AsyncSession, ctx: portal.PortalContext, admin: PartnerAdmin, partner: Partner
) -> uuid.UUID | None:
    """Queue the new administrator's invitation (the id of the email to deliver after commit)."""
    return await invitations.send_invitation(
        db,
        admin,
        partner,
        ctx.principal.actor_email or "",
        ctx.session.language if ctx.session is not None else None,
    )


async def _detail_page(
    request: Request,
    ctx: portal.PortalContext,
    sub_ref: str,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with unit_of_work(request) as db:
        repo = PartnerRepository(db, ctx.principal)
        sub = await service.get_sub_partner(repo, _sub_id(sub_ref))
        admins = await service.list_sub_partner_admins(repo, sub.id)
    query = request.query_params
    return forms.form_page(
        request,
        "partners/sub_partner.html",
        {
            "sub": sub,
            "sub_ref": ref(sub),
            "admins": admins,
            "roles": PARTNER_ROLES,
            "can_manage": ctx.principal.has(SUB_PARTNERS_WRITE),
            "created": query.get("created") == "1",
            "invited": query.get("invited") == "1",
        },
        error,
        status,
        form,
    )


@router.get("/sub-partners/{sub_ref}")
async def sub_partner(
    sub_ref: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _detail_page(request, ctx, sub_ref)


@router.post("/sub-partners/{sub_ref}/administrators")
async def add_administrator(
    sub_ref: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    values = forms.values_of(form, ("email", "display_name", "role"))
    sub_id = _sub_id(sub_ref)

    async def add(db: AsyncSession) -> tuple[Partner, uuid.UUID | None]:
        sub, admin = await service.add_sub_partner_admin(
            PartnerRepository(db, ctx.principal),
            sub_id,
            values["email"],
            values["display_name"],
            values["role"],
        )
        return sub, await _invite(db, ctx, admin, sub)

    refused = partial(_detail_page, request, ctx, sub_ref, form=values)
    outcome = await forms.attempt(request, add, refused, passthrough=(403, 404))
    if isinstance(outcome, Response):
        return outcome
    await deliver_later(outcome[1])
    return RedirectResponse(f"/sub-partners/{ref(outcome[0])}?invited=1", status_code=303)


@router.post("/sub-partners/{sub_ref}/administrators/{admin_id}")
async def change_administrator(
    sub_ref: str,
    admin_id: uuid.UUID,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    active = form.get("active")
    role = form.get("role")

    async def change(db: AsyncSession) -> object:
        return await service.update_sub_partner_admin(
            PartnerRepository(db, ctx.principal),
            _sub_id(sub_ref),
            admin_id,
            role=str(role) if role else None,
            active=(active == "true") if active in ("true", "false") else None,
        )

    refused = partial(_detail_page, request, ctx, sub_ref)
    done = f"/sub-partners/{sub_ref}"
    return await forms.submit(request, change, refused, done, passthrough=(403, 404))


# Declared after the administrators' routes: ``/{action}`` must not catch them.
def _action(action: str) -> str:
    if action not in ACTIONS:
        raise NotFound("Not Found")
    return ACTIONS[action]


@router.get("/sub-partners/{sub_ref}/{action}")
async def confirm_state(
    sub_ref: str,
    action: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    """The confirmation page of a suspension or a reactivation."""
    state = _action(action)
    async with unit_of_work(request) as db:
        sub = await service.sub_partner_to_change(
            PartnerRepository(db, ctx.principal), _sub_id(sub_ref)
        )
    return render(
        request,
        "partners/sub_partner_confirm.html",
        {"sub": sub, "sub_ref": ref(sub), "action": action, "state": state},
    )


@router.post("/sub-partners/{sub_ref}/{action}")
async def change_state(
    sub_ref: str,
    action: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    state = _action(action)
    await portal.form_of(request, ctx)
    async with unit_of_work(request) as db:
        sub = await service.update_sub_partner(
            PartnerRepository(db, ctx.principal), _sub_id(sub_ref), state=state
        )
    return RedirectResponse(f"/sub-partners/{ref(sub)}", status_code=303)


# --- the invited administrator's set-password page (the signed link is the credential) -------


@router.get(f"{invitations.LINK_PATH}/{{token}}")
async def invitation_page(token: str, request: Request) -> Response:
    await portal.load(request)  # a visitor: the form's CSRF token needs no row (render sets it)
    try:
        async with unit_of_work(request) as db:
            _link, admin = await invitations.peek(db, token)
    except LinkRefused as exc:
        return link_refused(request, exc.reason)
    return set_password_page(request, admin.email, invitations.INVITATION)


@router.post(f"{invitations.LINK_PATH}/{{token}}")
async def invitation_submit(token: str, request: Request) -> Response:
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    password = str(form.get("password") or "")
    email = ""
    try:
        async with unit_of_work(request) as db:
            _link, admin = await invitations.peek(db, token)
            email = admin.email
            if password != str(form.get("confirm") or ""):
                raise ApiError("The two passwords differ", field="confirm")
            await invitations.use(db, token, password)
    except LinkRefused as exc:
        async with unit_of_work(request) as db:  # the refused attempt's transaction is gone
            await invitations.record_refused(db, exc)
        return link_refused(request, exc.reason)
    except ApiError as exc:
        return set_password_page(
            request, email, invitations.INVITATION, messages.described(exc, language(request)), 400
        )
    return RedirectResponse("/login", status_code=303)
