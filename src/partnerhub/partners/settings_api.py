"""``/v1/partner/settings``: the acting partner's settings (hub API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.partners import service
from partnerhub.partners.repository import PartnerRepository
from partnerhub.partners.schemas import OffersOut, PartnerSettingsIn, PartnerSettingsOut
from partnerhub.partners.service import PartnerSettings

router = APIRouter(prefix="/v1/partner/settings", tags=["Partner settings"])


def present(settings: PartnerSettings) -> dict[str, object]:
    out = PartnerSettingsOut(
        name=settings.name,
        pstn_providers=settings.pstn_providers,
        offers=OffersOut(wholesale=settings.wholesale, hosted_calling=settings.hosted_calling),
        support_email=settings.support_email,
    )
    return out.model_dump(by_alias=True, mode="json")


@router.get("", response_model=PartnerSettingsOut)
async def get_settings(
    request: Request, principal: Principal = Depends(api_principal)
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        return present(await service.get_settings(PartnerRepository(session, principal)))


@router.put("", response_model=PartnerSettingsOut)
async def put_settings(
    body: PartnerSettingsIn, request: Request, principal: Principal = Depends(api_principal)
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        updated = await service.update_settings(
            PartnerRepository(session, principal),
            PartnerSettings(
                name=body.name,
                pstn_providers=body.pstn_providers,
                hosted_calling=body.offers.hosted_calling,
                support_email=body.support_email,
            ),
        )
    return present(updated)
