"""Portal page: the partner's administrators (list, add, change role, deactivate)."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.catalog.roles import PARTNER_ROLES
from partnerhub.identity import service
from partnerhub.identity.repository import AdminRepository
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import forms
from partnerhub.portal import session as portal

PAGE = "/settings/administrators"
router = APIRouter(prefix=PAGE, include_in_schema=False)


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
    return forms.form_page(
        request,
        "identity/administrators.html",
        {
            "admins": admins,
            "roles": PARTNER_ROLES,
            "can_manage": ctx.principal.has(service.ADMIN_SCOPE),
            "locked": locked,
        },
        error,
        status,
        form,
    )


forms.show(router, "", _page, "administrators")


@router.post("")
async def add_administrator(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    values = forms.values_of(form, ("email", "display_name", "role"))

    async def create(db: AsyncSession) -> object:
        return await service.create_admin(
            AdminRepository(db, ctx.principal),
            values["email"],
            values["display_name"],
            values["role"],
            str(form.get("password") or ""),
        )

    return await forms.submit(request, create, partial(_page, request, ctx, form=values), PAGE)


@router.post("/{admin_id}")
async def change_administrator(
    admin_id: uuid.UUID,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    form = await portal.form_of(request, ctx)
    role = form.get("role")
    active = form.get("active")

    async def change(db: AsyncSession) -> object:
        return await service.update_admin(
            AdminRepository(db, ctx.principal),
            admin_id,
            role=str(role) if role else None,
            active=(active == "true") if active in ("true", "false") else None,
        )

    return await forms.submit(
        request, change, partial(_page, request, ctx), PAGE, passthrough=(404,)
    )


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
    return RedirectResponse(PAGE, status_code=303)
