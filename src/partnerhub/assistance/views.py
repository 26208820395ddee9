"""Portal: the installation assistance request on the customer's set-up page (S27).

``POST /customers/{id}/setup/assistance`` stores a request (and queues its email);
``POST /customers/{id}/setup/assistance/{request}/status`` changes its status. Both re-show
``/customers/{id}/setup`` (:func:`partnerhub.subscribers.setup_views.setup_page`, which shows
the customer's requests).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub import ids
from partnerhub.assistance import service
from partnerhub.assistance.repository import AssistanceRepository
from partnerhub.errors import ApiError
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import forms, messages
from partnerhub.portal import session as portal
from partnerhub.portal.render import gettext_for, language
from partnerhub.subscribers.setup_views import setup_page

router = APIRouter(include_in_schema=False)

FIELDS = ("contact_name", "contact_email", "phone", "preferred_dates", "sites", "notes")


async def _page(
    request: Request, ctx: portal.PortalContext, cid: str, *, status: int, **extra: Any
) -> Response:
    """The set-up page again, with what was typed and the refusal."""
    return await setup_page(request, ctx, cid, status=status, extra=extra)


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
            created = await service.create(
                AssistanceRepository(db, ctx.principal),
                ids.decode("CUSTOMER", customer_id),
                service.RequestInput(**values),
                language(request),
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _page(
            request,
            ctx,
            customer_id,
            status=exc.status,
            assistance_form=values,
            assistance_error=forms.refusal(request, exc),
        )
    from partnerhub.identity.org_auth import deliver_later

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
            await service.set_status(
                AssistanceRepository(db, ctx.principal),
                ids.decode("CUSTOMER", customer_id),
                ids.decode("INSTALLATION_REQUEST", request_id),
                str(form.get("status") or ""),
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _page(
            request,
            ctx,
            customer_id,
            status=exc.status,
            assistance_error=messages.described(exc, language(request)),
        )
    return RedirectResponse(f"/customers/{customer_id}/setup#assistance", status_code=303)
