"""``/v1/partner/administrators``: the partner's portal administrators (hub API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.identity import service
from partnerhub.identity.repository import AdminRepository
from partnerhub.identity.schemas import (
    AdministratorIn,
    AdministratorList,
    AdministratorOut,
    AdministratorUpdate,
)
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.models import PartnerAdmin

router = APIRouter(prefix="/v1/partner/administrators", tags=["Partner administrators"])


def present(admin: PartnerAdmin) -> dict[str, object]:
    out = AdministratorOut(
        id=ids.encode("PEOPLE", admin.id, ids.HUB),
        email=admin.email,
        display_name=admin.display_name,
        role=admin.role,
        active=admin.active,
        created=admin.created,
        last_login=admin.last_login,
    )
    return out.model_dump(by_alias=True, mode="json")


@router.get("", response_model=AdministratorList)
async def list_administrators(
    request: Request,
    response: Response,
    principal: Principal = Depends(api_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    principal.require(service.ADMIN_SCOPE)
    async with unit_of_work(request) as session:
        admins = await service.list_admins(AdminRepository(session, principal))
    return {"items": [present(a) for a in page_rows(request, response, page, page.window(admins))]}


@router.post("", status_code=201, response_model=AdministratorOut)
async def create_administrator(
    body: AdministratorIn, request: Request, principal: Principal = Depends(api_principal)
) -> JSONResponse:
    async with unit_of_work(request) as session:
        admin = await service.create_admin(
            AdminRepository(session, principal),
            body.email,
            body.display_name,
            body.role,
            body.password,
        )
        out = present(admin)
    return JSONResponse(out, status_code=201)


@router.put("/{admin_id}", response_model=AdministratorOut)
async def update_administrator(
    admin_id: str,
    body: AdministratorUpdate,
    request: Request,
    principal: Principal = Depends(api_principal),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        admin = await service.update_admin(
            AdminRepository(session, principal),
            ids.decode("PEOPLE", admin_id),
            display_name=body.display_name,
            role=body.role,
            active=body.active,
        )
        return present(admin)
