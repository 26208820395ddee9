"""``GET /v1/wholesale/subPartners`` and :func:`wholesale_principal`, the dependency every
wholesale endpoint uses to honour ``onBehalfOfSubPartnerOrgId``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response

from partnerhub.kit.pagination import page_params, set_next_link
from partnerhub.kit.schemas import IntegerQuery
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.models import Partner
from partnerhub.partners import service
from partnerhub.partners.repository import PartnerRepository
from partnerhub.partners.schemas import SubPartnerList, SubPartnerOut

router = APIRouter(prefix="/v1/wholesale/subPartners", tags=["Wholesale Provisioning"])


async def wholesale_principal(
    request: Request,
    on_behalf_of: str | None = Query(
        default=None,
        alias="onBehalfOfSubPartnerOrgId",
        description="The encoded organization ID of a sub-partner to act for.",
    ),
    principal: Principal = Depends(api_principal),
) -> Principal:
    """Dependency: the bearer token's principal, switched to the sub-partner named by
    ``onBehalfOfSubPartnerOrgId`` (404 if it is not a sub-partner of the caller; 403 when a
    suspended sub-partner tries anything but reading or deleting)."""
    if on_behalf_of is None:  # the common case needs no database round trip
        acting = service.refuse_if_suspended(principal, request.method)
    else:
        async with unit_of_work(request) as session:
            acting = await service.acting_principal(
                PartnerRepository(session, principal), on_behalf_of, request.method
            )
    request.state.principal = acting
    request.state.on_behalf_of = on_behalf_of.strip() if on_behalf_of else None
    return acting


def _billing_start(partner: Partner) -> datetime:
    raw = (partner.settings or {}).get("billingStartDate")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            pass
    return partner.created


def present(partner: Partner) -> SubPartnerOut:
    return SubPartnerOut(
        org_id=service.org_id(partner),
        subscription_id=partner.subscription_id,
        provisioning_state=partner.provisioning_state,
        created=partner.created,
        billing_start_date=_billing_start(partner),
    )


@router.get("", response_model=SubPartnerList)
async def list_sub_partners(
    request: Request,
    response: Response,
    provisioning_state: str | None = Query(default=None, alias="provisioningState"),
    offset: IntegerQuery = None,
    max: IntegerQuery = None,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    page = page_params(offset, max, default=100, limit=100)
    async with unit_of_work(request) as session:
        rows = await service.list_sub_partners(
            PartnerRepository(session, principal), provisioning_state, page.offset, page.max + 1
        )
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    out = SubPartnerList(items=[present(p) for p in rows[: page.max]])
    return out.model_dump(by_alias=True, mode="json")
