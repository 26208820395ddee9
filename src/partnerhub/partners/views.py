"""Portal page: the partner's settings (name, PSTN providers, offers)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.web import unit_of_work
from partnerhub.partners import service
from partnerhub.partners.repository import PartnerRepository
from partnerhub.partners.service import PartnerSettings
from partnerhub.portal import forms
from partnerhub.portal import session as portal
from partnerhub.portal.render import render

router = APIRouter(prefix="/settings/partner", include_in_schema=False)


async def _page(
    request: Request,
    ctx: portal.PortalContext,
    settings: PartnerSettings | None = None,
    error: str | None = None,
    status: int = 200,
    saved: bool = False,
) -> Response:
    if settings is None:
        async with unit_of_work(request) as db:
            settings = await service.get_settings(PartnerRepository(db, ctx.principal))
    return render(
        request,
        "partners/settings.html",
        {
            "settings": settings,
            "can_manage": ctx.principal.has(service.ADMIN),
            "error": error,
            "saved": saved,
        },
        status=status,
    )


@router.get("")
async def settings_page(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _page(request, ctx, saved=request.query_params.get("saved") == "1")


@router.post("")
async def save_settings(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    wanted = PartnerSettings(
        name=str(form.get("name") or ""),
        pstn_providers=str(form.get("pstn_providers") or "").splitlines(),
        hosted_calling=form.get("hosted_calling") == "on",
        support_email=str(form.get("support_email") or "").strip() or None,
    )

    async def save(db: AsyncSession) -> object:
        return await service.update_settings(PartnerRepository(db, ctx.principal), wanted)

    refused = partial(_page, request, ctx, wanted)
    return await forms.submit(request, save, refused, "/settings/partner?saved=1")
