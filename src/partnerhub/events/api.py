"""``/v1/webhooks`` (the vendor's CRUD; hub: deliveries and a test event) and ``/v1/events``
(the hub's pull feed). docs/events.md, docs/contract.md §8."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from partnerhub import ids
from partnerhub.events import delivery, service
from partnerhub.events.present import Owner, render
from partnerhub.events.repository import EventRepository, WebhookRepository
from partnerhub.events.schemas import (
    AttemptList,
    AttemptOut,
    EventFeed,
    EventOut,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)
from partnerhub.kit.pagination import Max1000Query, Page, page_params, page_rows, paging
from partnerhub.kit.schemas import iso_z, one_of
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Webhook
from partnerhub.partners.api import wholesale_principal

router = APIRouter(prefix="/v1/webhooks", tags=["Webhooks"])
feed_router = APIRouter(prefix="/v1/events", tags=["Events"])


def present(webhook: Webhook, principal: Principal) -> dict[str, Any]:
    """The wire Webhook; its ``secret`` only for a caller who may manage it
    (``service.shown_secret``)."""
    out = WebhookOut(
        id=service.webhook_id(webhook),
        name=webhook.name,
        target_url=webhook.target_url,
        resource=webhook.resource,
        event=webhook.event,
        filter=webhook.filter,
        secret=service.shown_secret(principal, webhook),
        status=webhook.status,
        created=iso_z(webhook.created),
        owned_by=webhook.owned_by,
        org_id=ids.encode("ORGANIZATION", webhook.partner_id, ids.HUB),
        created_by=ids.encode("PEOPLE", webhook.created_by, ids.HUB)
        if webhook.created_by
        else None,
        app_id=service.APP_ID,
    )
    dumped: dict[str, Any] = out.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_addresses)


@router.get("", response_model=WebhookList, response_model_exclude_none=True)
async def list_webhooks(
    request: Request,
    response: Response,
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, Any]:
    async with unit_of_work(request) as session:
        rows = await service.list_webhooks(
            WebhookRepository(session, principal), page.offset, page.fetch
        )
        items = [present(w, principal) for w in page_rows(request, response, page, rows)]
    return {"items": items}


@router.post("", response_model=WebhookOut, response_model_exclude_none=True)
async def create_webhook(
    body: WebhookIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> dict[str, Any]:
    async with unit_of_work(request) as session:
        webhook = await service.create(
            WebhookRepository(session, principal),
            name=body.name,
            target_url=body.target_url,
            resource=body.resource,
            event=body.event,
            filter_=body.filter,
            secret=body.secret,
            owned_by=body.owned_by,
            allow_private=_allow_private(request),
        )
        out = present(webhook, principal)
    return out


@router.get("/{webhook_id}", response_model=WebhookOut, response_model_exclude_none=True)
async def get_webhook(
    webhook_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> dict[str, Any]:
    async with unit_of_work(request) as session:
        webhook = await service.get(WebhookRepository(session, principal), webhook_id)
        return present(webhook, principal)


@router.put("/{webhook_id}", response_model=WebhookOut, response_model_exclude_none=True)
async def update_webhook(
    webhook_id: str,
    body: WebhookUpdate,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, Any]:
    async with unit_of_work(request) as session:
        webhook = await service.update(
            WebhookRepository(session, principal),
            webhook_id,
            name=body.name,
            target_url=body.target_url,
            secret=body.secret,
            owned_by=body.owned_by,
            status=body.status,
            allow_private=_allow_private(request),
        )
        out = present(webhook, principal)
    return out


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(
    webhook_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        await service.delete(WebhookRepository(session, principal), webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/test", status_code=202)
async def send_test_event(
    webhook_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> dict[str, Any]:
    """(hub) Queue a test event: delivered before the webhook's waiting events, logged like
    any delivery."""
    async with unit_of_work(request) as session:
        delivery_id = await delivery.send_test(WebhookRepository(session, principal), webhook_id)
    return {"deliveryId": f"msg_{delivery_id.hex}"}


@router.get("/{webhook_id}/deliveries", response_model=AttemptList)
async def list_attempts(
    webhook_id: str,
    request: Request,
    response: Response,
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, Any]:
    """(hub) The webhook's delivery attempts, newest first: status, latency, the start of the
    answer."""
    async with unit_of_work(request) as session:
        repo = WebhookRepository(session, principal)
        webhook = await service.get(repo, webhook_id)
        rows = await repo.attempts(webhook, page.offset, page.fetch)
        codec = await service.cursors(repo)
    shown = page_rows(request, response, page, rows)
    sealed = codec.cursors([(d.position, d.event_id or 0) for _, d, _ in shown])
    items = [
        AttemptOut(
            delivery_id=f"msg_{d.id.hex}",
            event_cursor=cursor if d.event_id is not None else None,
            attempt=number,
            at=iso_z(a.at),
            status_code=a.status_code,
            error=a.error,
            latency_ms=a.latency_ms,
            response_excerpt=a.response_excerpt,
            delivery_status=d.status,
        )
        for (a, d, number), cursor in zip(shown, sealed, strict=True)
    ]
    return AttemptList(items=items).model_dump(by_alias=True, mode="json", exclude_none=True)


@feed_router.get("", response_model=EventFeed, response_model_exclude_none=True)
async def event_feed(
    request: Request,
    after: str | None = Query(default=None),
    max: Max1000Query = None,
    resource: Annotated[str, one_of(service.READ_SCOPES)] | None = Query(default=None),
    customer_id: str | None = Query(default=None, alias="customerId"),
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, Any]:
    """(hub) The acting partner's events after ``after``, in commit order."""
    page = page_params(None, max, 100, 1000)
    async with unit_of_work(request) as session:
        rows, nxt = await service.feed(
            EventRepository(session, principal), after, page.max, resource, customer_id
        )
    items = [
        EventOut(
            cursor=item.cursor,
            id=item.id,
            resource=item.event.resource,
            event=item.event.event,
            created=iso_z(item.event.created),
            actor_id=delivery.actor_ref(item.event.actor_id),
            tracking_id=item.event.tracking_id,
            data=render(
                item.event.resource,
                item.event.data,
                Owner(item.event.data_region, item.event.external_id),
            ),
        )
        for item in rows
    ]
    return EventFeed(items=items, next=nxt).model_dump(
        by_alias=True, mode="json", exclude_none=True
    )
