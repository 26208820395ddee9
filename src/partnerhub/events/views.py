"""The partner portal's webhooks page: list, create, edit, send a test event, re-activate, and
each webhook's delivery attempts. The same services as ``/v1/webhooks`` (events/api.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub.errors import Forbidden
from partnerhub.events import delivery, service
from partnerhub.events.repository import WebhookRepository
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import forms
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_

router = APIRouter(include_in_schema=False)


def _require_manage(ctx: portal.PortalContext) -> None:
    """Changing webhooks is for administrators who may change something (not read-only): the
    services' rule (``service.may_manage``), checked here before the form is read."""
    if not service.may_manage(ctx.principal):
        raise Forbidden(N_("Your role cannot manage webhooks"))


_FIELDS = ("name", "target_url", "resource", "event", "filter", "secret")

# A delivery's state, and why an attempt got no HTTP answer, in the reader's words (the
# attempt keeps the technical English cause, shown as the line's tooltip).
DELIVERY_STATUS = {
    "pending": N_("pending"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
}
ATTEMPT_ERRORS = (
    ("is not a public address", N_("Refused: the address is not a public one")),
    ("does not resolve", N_("The host name does not resolve")),
    ("no complete answer within", N_("No complete answer in time")),
    ("is larger than", N_("The answer was too large")),
)
NO_ANSWER = N_("No answer: the connection failed")


def attempt_error(error: str | None) -> str:
    """The msgid that says why an attempt got no answer ("" for none)."""
    if not error:
        return ""
    return next((said for part, said in ATTEMPT_ERRORS if part in error), NO_ANSWER)


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_addresses)


async def _list_page(
    request: Request,
    ctx: portal.PortalContext,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with unit_of_work(request) as db:
        hooks = await service.list_webhooks(WebhookRepository(db, ctx.principal), 0, 1000)
    rows = [(service.webhook_id(h), h) for h in hooks]
    return forms.form_page(
        request,
        "events/webhooks.html",
        {
            "hooks": rows,
            "resources": service.WEBHOOK_RESOURCES,
            "events": ("all", *service.EVENTS),
        },
        error,
        status,
        form,
    )


async def _webhooks(request: Request, ctx: portal.PortalContext) -> Response:
    return await _list_page(request, ctx)


forms.show(router, "/webhooks", _webhooks, "webhooks")


@router.post("/webhooks")
async def create_webhook(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = forms.values_of(await portal.form_of(request, ctx), _FIELDS)
    _require_manage(ctx)

    async def action(db: Any) -> object:
        return await service.create(
            WebhookRepository(db, ctx.principal),
            name=form["name"],
            target_url=form["target_url"],
            resource=form["resource"],
            event=form["event"],
            filter_=form["filter"] or None,
            secret=form["secret"] or None,
            owned_by=None,
            allow_private=_allow_private(request),
        )

    async def refused(message: str, status: int) -> Response:
        return await _list_page(request, ctx, message, status, form)

    return await forms.submit(request, action, refused, "/webhooks?created=1", passthrough=(403,))


async def _detail_page(
    request: Request,
    ctx: portal.PortalContext,
    webhook_ref: str,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with unit_of_work(request) as db:
        repo = WebhookRepository(db, ctx.principal)
        hook = await service.get(repo, webhook_ref)
        attempts = await repo.attempts(hook, 0, 50)
    return forms.form_page(
        request,
        "events/webhook.html",
        {
            "hook": hook,
            "ref": webhook_ref,
            "attempts": attempts,
            "notice": request.query_params.get("done"),
            "delivery_status": DELIVERY_STATUS,
            "attempt_error": attempt_error,
        },
        error,
        status,
        form,
    )


@router.get("/webhooks/{webhook_ref}")
async def webhook_page(
    webhook_ref: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _detail_page(request, ctx, webhook_ref)


@router.post("/webhooks/{webhook_ref}")
async def edit_webhook(
    webhook_ref: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = forms.values_of(await portal.form_of(request, ctx), _FIELDS)
    _require_manage(ctx)

    async def action(db: Any) -> object:
        return await service.update(
            WebhookRepository(db, ctx.principal),
            webhook_ref,
            name=form["name"],
            target_url=form["target_url"],
            secret=form["secret"] if form["secret"] else None,
            owned_by=None,
            status=None,
            allow_private=_allow_private(request),
        )

    async def refused(message: str, status: int) -> Response:
        return await _detail_page(request, ctx, webhook_ref, message, status, form)

    return await forms.submit(
        request, action, refused, f"/webhooks/{webhook_ref}?done=saved", passthrough=(403, 404)
    )


@router.post("/webhooks/{webhook_ref}/{action}")
async def webhook_action(
    webhook_ref: str,
    action: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    """``test`` (queue a test event), ``activate`` (re-activate) or ``delete``."""
    await portal.form_of(request, ctx)
    _require_manage(ctx)
    if action not in ("test", "activate", "delete"):
        return await _detail_page(request, ctx, webhook_ref)
    async with unit_of_work(request) as db:
        repo = WebhookRepository(db, ctx.principal)
        hook = await service.get(repo, webhook_ref)
        if action == "test":
            await delivery.send_test(repo, webhook_ref)
        elif action == "activate":
            await service.update(
                repo,
                webhook_ref,
                name=hook.name,
                target_url=hook.target_url,
                secret=None,
                owned_by=None,
                status=service.ACTIVE,
                allow_private=True,  # the stored URL is not changed
            )
        else:
            await service.delete(repo, webhook_ref)
    if action == "delete":
        return RedirectResponse("/webhooks?deleted=1", status_code=303)
    return RedirectResponse(f"/webhooks/{webhook_ref}?done={action}", status_code=303)
