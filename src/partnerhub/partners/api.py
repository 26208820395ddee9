"""``/v1/wholesale/subPartners`` and :func:`wholesale_principal`, the dependency every
wholesale endpoint uses to honour ``onBehalfOfSubPartnerOrgId``.

The vendor's list (``GET``) plus the hub's extension: create a sub-partner with its first full
administrator, read one, rename, suspend or reactivate it (``PUT``), and list, add and change its
administrators. Another partner's sub-partner is not found (404)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.identity import api as identity_api
from partnerhub.identity.org_auth import deliver_later
from partnerhub.identity.schemas import AdministratorList, AdministratorOut
from partnerhub.kit import idempotency
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.schemas import one_of
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.models import Partner
from partnerhub.partners import invitations, service
from partnerhub.partners.repository import PartnerRepository
from partnerhub.partners.schemas import (
    SubPartnerAdministratorIn,
    SubPartnerAdministratorUpdate,
    SubPartnerIn,
    SubPartnerList,
    SubPartnerOut,
    SubPartnerUpdate,
)

router = APIRouter(prefix="/v1/wholesale/subPartners", tags=["Wholesale Provisioning"])


async def wholesale_principal(
    request: Request,
    on_behalf_of: str | None = Query(
        default=None,
        alias="onBehalfOfSubPartnerOrgId",
        description="The encoded organization ID of a sub-partner to act for.",
    ),
) -> Principal:
    """Dependency: the bearer token's principal, switched to the sub-partner named by
    ``onBehalfOfSubPartnerOrgId`` (404 if it is not a sub-partner of the caller; 403 when a
    suspended sub-partner tries anything but reading or deleting). The bearer check is a
    plain call, not a nested dependency (FastAPI's solving of a second dependency cost more
    than the check's own Python)."""
    principal = await api_principal(request)
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
        name=partner.name,
    )


@router.get("", response_model=SubPartnerList)
async def list_sub_partners(
    request: Request,
    response: Response,
    provisioning_state: Annotated[
        str | None, one_of(service.STATES), Query(alias="provisioningState")
    ] = None,
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=100)),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        rows = await service.list_sub_partners(
            PartnerRepository(session, principal), provisioning_state, page.offset, page.fetch
        )
    out = SubPartnerList(items=[present(p) for p in page_rows(request, response, page, rows)])
    return out.model_dump(by_alias=True, mode="json")


# --- hub extension ---------------------------------------------------------------------------


def _org(org_id: str) -> uuid.UUID | None:
    return ids.decode("ORGANIZATION", org_id)


def _inviter(principal: Principal) -> str:
    return principal.actor_email or "Your partner"


@router.post("", status_code=201, response_model=SubPartnerOut)
async def create_sub_partner(
    body: SubPartnerIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    """Create a sub-partner of the caller and its first full administrator, who receives an
    invitation e-mail to set a password (no secret is returned)."""
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        created = await service.create_sub_partner(
            PartnerRepository(session, principal),
            service.NewPartner(
                name=body.name,
                admin_email=body.administrator.email,
                admin_name=body.administrator.display_name,
                subscription_id=body.subscription_id,
                billing_start_date=body.billing_start_date,
            ),
        )
        email_id = await invitations.send_invitation(
            session, created.admin, created.partner, _inviter(principal)
        )
        response = JSONResponse(
            present(created.partner).model_dump(by_alias=True, mode="json"), status_code=201
        )
        await idempotency.remember(session, request, principal, response)
    await deliver_later(email_id)
    return response


@router.get("/{org_id}", response_model=SubPartnerOut)
async def get_sub_partner(
    org_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        sub = await service.get_sub_partner(PartnerRepository(session, principal), _org(org_id))
        return present(sub).model_dump(by_alias=True, mode="json")


@router.put("/{org_id}", response_model=SubPartnerOut)
async def update_sub_partner(
    org_id: str,
    body: SubPartnerUpdate,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    """Rename (``name``), suspend or reactivate (``provisioningState``) a sub-partner."""
    async with unit_of_work(request) as session:
        sub = await service.update_sub_partner(
            PartnerRepository(session, principal),
            _org(org_id),
            name=body.name,
            state=body.provisioning_state,
        )
        return present(sub).model_dump(by_alias=True, mode="json")


@router.get("/{org_id}/administrators", response_model=AdministratorList)
async def list_sub_partner_administrators(
    org_id: str,
    request: Request,
    response: Response,
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        admins = await service.list_sub_partner_admins(
            PartnerRepository(session, principal), _org(org_id)
        )
    shown = page_rows(request, response, page, page.window(admins))
    return {"items": [identity_api.present(a) for a in shown]}


@router.post("/{org_id}/administrators", status_code=201, response_model=AdministratorOut)
async def add_sub_partner_administrator(
    org_id: str,
    body: SubPartnerAdministratorIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    """Add an administrator to a sub-partner; they receive an invitation e-mail to set a
    password (no secret is returned)."""
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        sub, admin = await service.add_sub_partner_admin(
            PartnerRepository(session, principal),
            _org(org_id),
            body.email,
            body.display_name,
            body.role,
        )
        email_id = await invitations.send_invitation(session, admin, sub, _inviter(principal))
        response = JSONResponse(identity_api.present(admin), status_code=201)
        await idempotency.remember(session, request, principal, response)
    await deliver_later(email_id)
    return response


@router.put("/{org_id}/administrators/{admin_id}", response_model=AdministratorOut)
async def update_sub_partner_administrator(
    org_id: str,
    admin_id: str,
    body: SubPartnerAdministratorUpdate,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    """Change a sub-partner administrator's name or role, or deactivate (``active: false``)
    or reactivate them."""
    async with unit_of_work(request) as session:
        admin = await service.update_sub_partner_admin(
            PartnerRepository(session, principal),
            _org(org_id),
            ids.decode("PEOPLE", admin_id),
            display_name=body.display_name,
            role=body.role,
            active=body.active,
        )
        return identity_api.present(admin)
