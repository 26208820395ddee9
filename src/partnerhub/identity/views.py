"""Portal page: the partner's administrators (list, add, change role, deactivate)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub.catalog.roles import PARTNER_ROLES
from partnerhub.errors import ApiError
from partnerhub.identity import service
from partnerhub.identity.repository import AdminRepository
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import session as portal
from partnerhub.portal.render import gettext_for, render

router = APIRouter(prefix="/settings/administrators", include_in_schema=False)


async def _page(
    request: Request,
    ctx: portal.PortalContext,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with unit_of_work(request) as db:
        admins = await service.list_admins(AdminRepository(db, ctx.principal))
        locked = {a.id for a in admins if await service.admin_locked(db, a)}
    return render(
        request,
        "identity/administrators.html",
        {
            "admins": admins,
            "roles": PARTNER_ROLES,
            "can_manage": ctx.principal.has(service.ADMIN_SCOPE),
            "error": error,
            "form": form or {},
            "locked": locked,
        },
        status=status,
    )


@router.get("")
async def administrators(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _page(request, ctx)


@router.post("")
async def add_administrator(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    values = {k: str(form.get(k) or "") for k in ("email", "display_name", "role")}
    try:
        async with unit_of_work(request) as db:
            await service.create_admin(
                AdminRepository(db, ctx.principal),
                values["email"],
                values["display_name"],
                values["role"],
                str(form.get("password") or ""),
            )
    except ApiError as exc:
        return await _page(request, ctx, _(exc.description), exc.status, values)
    return RedirectResponse("/settings/administrators", status_code=303)


@router.post("/{admin_id}")
async def change_administrator(
    admin_id: uuid.UUID,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    role = form.get("role")
    active = form.get("active")
    try:
        async with unit_of_work(request) as db:
            await service.update_admin(
                AdminRepository(db, ctx.principal),
                admin_id,
                role=str(role) if role else None,
                active=(active == "true") if active in ("true", "false") else None,
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _page(request, ctx, _(exc.description), exc.status)
    return RedirectResponse("/settings/administrators", status_code=303)


@router.post("/{admin_id}/unlock")
async def unlock_administrator(
    admin_id: uuid.UUID,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    """End the lock-out of an administrator's address (full administrators only)."""
    await portal.form_of(request, ctx)
    async with unit_of_work(request) as db:
        await service.unlock_admin(AdminRepository(db, ctx.principal), admin_id)
    return RedirectResponse("/settings/administrators", status_code=303)
