"""``/v1/locations``: locations of the acting partner's customer organizations (hub)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from partnerhub import ids
from partnerhub.kit import openapi
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work, work
from partnerhub.locations import service
from partnerhub.locations.repository import LocationRepository, NewLocation, OrgCustomer
from partnerhub.locations.schemas import AddressOut, LocationIn, LocationList, LocationOut
from partnerhub.models import Customer, Location
from partnerhub.partners.api import wholesale_principal

router = APIRouter(prefix="/v1/locations", tags=["Locations"])


def present_one(
    loc: Location | NewLocation, customer: Customer | OrgCustomer, main_number: str | None
) -> LocationOut:
    """A location's answer (the POST, the GET, the list and the PUT all answer with it)."""
    region = service.region_of(customer)
    return LocationOut(
        id=service.location_wire_id(loc, customer),
        name=loc.name,
        org_id=service.org_wire_id(customer),
        time_zone=loc.time_zone,
        preferred_language=loc.preferred_language,
        announcement_language=loc.announcement_language,
        address=AddressOut(
            address1=loc.address1,
            address2=loc.address2,
            city=loc.city,
            state=loc.state,
            postal_code=loc.postal_code,
            country=loc.country,
        ),
        customer_id=ids.encode("CUSTOMER", customer.id, region),
        headquarters=loc.headquarters,
        main_number=main_number,
        emergency_location_identifier=loc.emergency_location_identifier,
        created=loc.created,
        updated=loc.updated,
    )


async def present(repo: LocationRepository, rows: list[Location]) -> list[LocationOut]:
    customers = await repo.customers({loc.customer_id for loc in rows})
    mains = await repo.main_numbers([loc.id for loc in rows])
    return [present_one(loc, customers[loc.customer_id], mains.get(loc.id)) for loc in rows]


def _dump(model: LocationOut | LocationList) -> dict[str, object]:
    return model.model_dump(by_alias=True, mode="json")


@router.get("", response_model=LocationList)
async def list_locations(
    request: Request,
    response: Response,
    org_id: str | None = Query(default=None, alias="orgId"),
    name: str | None = Query(default=None, max_length=200),
    principal: Principal = Depends(wholesale_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = LocationRepository(session, principal)
        rows = await service.list_locations(repo, org_id, name, page.offset, page.fetch)
        items = await present(repo, page_rows(request, response, page, rows))
    return _dump(LocationList(items=items))


@router.post(
    "",
    status_code=201,
    response_model=LocationOut,
    responses={201: openapi.located("The location")},
)
async def create_location(
    body: LocationIn,
    request: Request,
    org_id: str | None = Query(default=None, alias="orgId"),
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    # Plain statements in autocommit (the facts, the INSERT); a transaction only with a
    # mainNumber (the INSERT and the number commit together).
    async with work(request) as unit:
        repo = LocationRepository(unit, principal)
        created = await service.create(
            repo, body.org_id or org_id, body.to_data(), main_number=body.main_number
        )
    out = present_one(created.location, created.customer, created.main_number)
    # serialized once, straight to JSON bytes; the get_location URL as url_for builds it
    # (without its walk over every route of the app)
    return Response(
        out.__pydantic_serializer__.to_json(out, by_alias=True),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"{str(request.base_url).rstrip('/')}{router.prefix}/{out.id}"},
    )


@router.get("/{location_id}", response_model=LocationOut)
async def get_location(
    location_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = LocationRepository(session, principal)
        location = await service.get(repo, ids.decode("LOCATION", location_id))
        (out,) = await present(repo, [location])
    return _dump(out)


@router.put("/{location_id}", response_model=LocationOut)
async def update_location(
    location_id: str,
    body: LocationIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = LocationRepository(session, principal)
        kwargs = {"main_number": body.main_number} if "main_number" in body.model_fields_set else {}
        location = await service.update(
            repo, ids.decode("LOCATION", location_id), body.to_data(), **kwargs
        )
        (out,) = await present(repo, [location])
    return _dump(out)


@router.delete("/{location_id}", status_code=204)
async def delete_location(
    location_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        repo = LocationRepository(session, principal)
        await service.delete(repo, ids.decode("LOCATION", location_id))
    return Response(status_code=204)
