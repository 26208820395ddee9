"""``/v1/adminAudit``: the audit log in the vendor's shape (CONTRACT section 9)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from partnerhub.audit import service
from partnerhub.audit.repository import AuditRepository
from partnerhub.audit.schemas import AuditEventList, EventCategories
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.scope import Principal
from partnerhub.kit.validators import parse_instant
from partnerhub.kit.web import api_principal, unit_of_work

router = APIRouter(prefix="/v1/adminAudit", tags=["Audit events"])


@router.get("/events", response_model=AuditEventList)
async def list_events(
    request: Request,
    response: Response,
    principal: Principal = Depends(api_principal),
    page: Page = Depends(paging(default=100, limit=200)),
    org_id: str = Query(alias="orgId", min_length=1),
    start: str | None = Query(default=None, alias="from"),
    end: str | None = Query(default=None, alias="to"),
    actor_id: str | None = Query(default=None, alias="actorId"),
    event_categories: list[str] = Query(default_factory=list, alias="eventCategories"),
) -> dict[str, object]:
    """The organization's audit events, newest first: the partner's own (``orgId`` = the
    partner's organization) or one of its customers', a direct sub-partner's own or one of
    its customers'. Scope ``audit:events_read`` (or
    ``partnerhub:admin``)."""
    principal.require(service.READ, service.ADMIN)
    async with unit_of_work(request) as session:
        repo = AuditRepository(session, principal)
        repo, rows = await service.list_events(
            repo,
            org_id,
            parse_instant("from", start),
            parse_instant("to", end),
            actor_ref=actor_id,
            event_categories=event_categories,
            offset=page.offset,
            limit=page.fetch,
        )
        shown = page_rows(request, response, page, rows)
        items = await service.present(repo, shown)
    return {"items": [item.model_dump(by_alias=True, mode="json") for item in items]}


@router.get("/eventCategories", response_model=EventCategories)
async def event_categories(principal: Principal = Depends(api_principal)) -> dict[str, object]:
    principal.require(service.READ, service.ADMIN)
    return {"eventCategories": service.categories()}
