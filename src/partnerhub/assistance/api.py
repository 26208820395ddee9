"""``/v1/partner/customers/{customerId}/installationRequests`` (hub API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.assistance import service
from partnerhub.assistance.repository import AssistanceRepository
from partnerhub.assistance.schemas import (
    InstallationRequestIn,
    InstallationRequestList,
    InstallationRequestOut,
)
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Customer, InstallationRequest
from partnerhub.partners.api import wholesale_principal

router = APIRouter(prefix="/v1/partner", tags=["Customer administration"])


def present(
    record: InstallationRequest, customer: Customer, emailed_to: str | None = None
) -> dict[str, object]:
    region = ids.region_of(customer.data_region)
    return InstallationRequestOut(
        id=ids.encode("INSTALLATION_REQUEST", record.id, region),
        customer_id=ids.encode("CUSTOMER", record.customer_id, region),
        contact_name=record.contact_name,
        contact_email=record.contact_email,
        phone=record.phone,
        preferred_dates=record.preferred_dates,
        sites=record.sites,
        notes=record.notes,
        status=record.status,
        emailed_to=emailed_to,
        created=record.created,
        updated=record.updated,
    ).model_dump(by_alias=True, mode="json")


@router.get("/customers/{customer_id}/installationRequests", response_model=InstallationRequestList)
async def list_requests(
    customer_id: str,
    request: Request,
    response: Response,
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        customer, rows = await service.list_for(
            AssistanceRepository(session, principal), ids.decode("CUSTOMER", customer_id)
        )
    shown = page_rows(request, response, page, page.window(rows))
    return {"items": [present(r, customer) for r in shown]}


@router.post(
    "/customers/{customer_id}/installationRequests",
    status_code=201,
    response_model=InstallationRequestOut,
)
async def create_request(
    customer_id: str,
    body: InstallationRequestIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> JSONResponse:
    from partnerhub.identity.org_auth import deliver_later

    async with unit_of_work(request) as session:
        created = await service.create(
            AssistanceRepository(session, principal),
            ids.decode("CUSTOMER", customer_id),
            service.RequestInput(**body.model_dump()),
            "en",
        )
        out = present(created.request, created.customer, created.emailed_to)
    await deliver_later(created.email_id)
    return JSONResponse(out, status_code=201)
