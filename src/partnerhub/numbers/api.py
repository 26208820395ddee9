"""``/v1/telephony/config/...``: the number inventory of locations (hub, Webex-shaped)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.schemas import BooleanQuery
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.locations import service as locations
from partnerhub.locations.repository import LocationRepository
from partnerhub.models import PhoneNumber
from partnerhub.numbers import service
from partnerhub.numbers.repository import NumberRepository, NumberRow
from partnerhub.numbers.schemas import (
    LocationRef,
    NumberList,
    NumberOut,
    NumbersIn,
    NumbersRemoveIn,
    OwnerOut,
)
from partnerhub.partners.api import wholesale_principal

router = APIRouter(prefix="/v1/telephony/config", tags=["Numbers"])


async def present(session_repo: NumberRepository, rows: list[NumberRow]) -> list[NumberOut]:
    repo = LocationRepository(session_repo.session, session_repo.principal)
    customers = await repo.customers({r.number.customer_id for r in rows})
    out = []
    for row in rows:
        number, owner = row.number, row.owner
        region = locations.region_of(customers[number.customer_id])
        out.append(
            NumberOut(
                phone_number=number.phone_number,
                extension=owner.extension if owner else None,
                main_number=number.main,
                state=number.state,
                number_type=number.number_type,
                location=LocationRef(
                    id=ids.encode("LOCATION", number.location_id, region), name=row.location_name
                ),
                owner=OwnerOut(
                    id=ids.encode("PEOPLE", owner.id, region),
                    type="PEOPLE",
                    first_name=owner.first_name,
                    last_name=owner.last_name,
                )
                if owner
                else None,
            )
        )
    return out


def _dump(model: NumberList) -> dict[str, object]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


@router.get("/numbers", response_model=NumberList, response_model_exclude_none=True)
async def list_numbers(
    request: Request,
    response: Response,
    org_id: str | None = Query(default=None, alias="orgId"),
    location_id: str | None = Query(default=None, alias="locationId"),
    available: BooleanQuery = None,
    phone_number: str | None = Query(default=None, alias="phoneNumber", max_length=40),
    owner_name: str | None = Query(default=None, alias="ownerName", max_length=200),
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    query = service.ListQuery(org_id, location_id, available, phone_number, owner_name)
    async with unit_of_work(request) as session:
        repo = NumberRepository(session, principal)
        rows = await service.list_numbers(repo, query, page.offset, page.fetch)
        items = await present(repo, page_rows(request, response, page, rows))
    return _dump(NumberList(phone_numbers=items))


def _rows(numbers: list[PhoneNumber], location_name: str) -> list[NumberRow]:
    return [NumberRow(n, location_name, None) for n in numbers]


@router.post(
    "/locations/{location_id}/numbers",
    status_code=201,
    response_model=NumberList,
    response_model_exclude_none=True,
)
async def add_numbers(
    location_id: str,
    body: NumbersIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> JSONResponse:
    async with unit_of_work(request) as session:
        repo = NumberRepository(session, principal)
        loc_id = ids.decode("LOCATION", location_id)
        added = await service.add_numbers(
            repo, loc_id, body.phone_numbers, body.number_type, body.state
        )
        location = await LocationRepository(session, principal).get(added[0].location_id)
        assert location is not None
        items = await present(repo, _rows(added, location.name))
    return JSONResponse(_dump(NumberList(phone_numbers=items)), status_code=201)


@router.delete("/locations/{location_id}/numbers", status_code=204)
async def remove_numbers(
    location_id: str,
    request: Request,
    body: NumbersRemoveIn = Body(...),
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    async with unit_of_work(request) as session:
        repo = NumberRepository(session, principal)
        await service.remove_numbers(repo, ids.decode("LOCATION", location_id), body.phone_numbers)
    return Response(status_code=204)
