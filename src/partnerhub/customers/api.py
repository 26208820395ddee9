"""``/v1/wholesale/customers``: the wholesale customers API (CONTRACT sections 2, 3 and 6).

Every endpoint honours ``onBehalfOfSubPartnerOrgId`` through
:func:`partnerhub.partners.api.wholesale_principal`. Changes return 202 and a job does the
work; the job is deferred only after the request's transaction has committed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.customers import service, tasks
from partnerhub.customers.repository import CustomerRepository
from partnerhub.customers.schemas import (
    AddressOut,
    CustomerIn,
    CustomerList,
    CustomerOut,
    CustomerUpdateIn,
    ErrorOut,
    PackageOut,
    PrecheckInfo,
    PrecheckOut,
    ResourceDetailsOut,
    ResourceUrl,
)
from partnerhub.kit import idempotency
from partnerhub.kit.pagination import page_params, set_next_link
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Customer
from partnerhub.partners.api import wholesale_principal

router = APIRouter(prefix="/v1/wholesale/customers", tags=["Wholesale Provisioning"])


def customer_id(customer: Customer) -> str:
    return ids.encode("CUSTOMER", customer.id)


def org_id(customer: Customer) -> str | None:
    return ids.encode("ORGANIZATION", customer.org_id) if customer.org_id else None


def _errors(items: Any) -> list[ErrorOut]:
    return [
        ErrorOut(error_code=int(e.get("errorCode", 0)), description=str(e.get("description", "")))
        for e in items or []
        if isinstance(e, dict)
    ]


def present(customer: Customer, include_licenses: bool = False) -> CustomerOut:
    packages = []
    for entry in (customer.resource_details or {}).get("packages") or []:
        licenses = None
        if include_licenses:
            licenses = (
                [service.license_id(customer, entry["name"])]
                if entry.get("status") == "provisioned"
                else []
            )
        packages.append(
            PackageOut(
                name=entry["name"],
                status=entry.get("status", "provisioning"),
                warnings=_errors(entry.get("warnings")),
                errors=_errors(entry.get("errors")),
                license_ids=licenses,
            )
        )
    return CustomerOut(
        id=customer_id(customer),
        org_id=org_id(customer),
        external_id=customer.external_id,
        address=AddressOut.model_validate(customer.address or {}),
        status=customer.status,
        packages=list(customer.packages or []),
        resource_details=ResourceDetailsOut(packages=packages),
        errors=_errors(customer.errors),
        name=customer.name,
        data_region=customer.data_region,
        provisioning_id=customer.provisioning_id,
        created=customer.created,
        last_status_change=customer.last_status_change,
    )


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return out


def customer_url(request: Request, customer: Customer) -> str:
    """Absolute URL of the customer; keeps ``onBehalfOfSubPartnerOrgId`` when acting for a
    sub-partner (the parent's plain URL would be 404)."""
    url = str(request.url_for("get_customer", customer_id=customer_id(customer)))
    on_behalf = getattr(request.state, "on_behalf_of", None)
    if on_behalf:
        url += "?" + urlencode({"onBehalfOfSubPartnerOrgId": on_behalf})
    return url


def _accepted(request: Request, customer: Customer) -> JSONResponse:
    url = customer_url(request, customer)
    return JSONResponse(_dump(ResourceUrl(url=url)), status_code=202, headers={"Location": url})


@router.get("", response_model=CustomerList, response_model_exclude_none=True)
async def list_customers(
    request: Request,
    response: Response,
    external_id: str | None = Query(default=None, alias="externalId"),
    org_id_filter: str | None = Query(default=None, alias="orgId"),
    status: list[str] | None = Query(
        default=None, description="Repeatable, or comma-separated statuses."
    ),
    offset: str | None = Query(default=None),
    max: str | None = Query(default=None),
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, Any]:
    page = page_params(offset, max, default=100, limit=100)
    filters = service.parse_filters(external_id, org_id_filter, status)
    async with unit_of_work(request) as session:
        rows = await service.list_customers(
            CustomerRepository(session, principal), filters, page.offset, page.max + 1
        )
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    return _dump(CustomerList(items=[present(c) for c in rows[: page.max]]))


@router.post("", status_code=202, response_model=ResourceUrl)
async def provision_customer(
    body: CustomerIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        customer = await service.provision(CustomerRepository(session, principal), body.wire())
        response = _accepted(request, customer)
        await idempotency.remember(session, request, principal, response)
    if customer.status in service.BUSY:
        await tasks.enqueue(customer.id)
    return response


@router.post("/validate", response_model=PrecheckOut)
async def precheck_customer(
    body: CustomerIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        description = await service.precheck(CustomerRepository(session, principal), body.wire())
        response = JSONResponse(
            _dump(
                PrecheckOut(
                    message="success", info=PrecheckInfo(info_code=100, description=description)
                )
            )
        )
        await idempotency.remember(session, request, principal, response)
    return response


@router.get("/{customer_id}", response_model=CustomerOut, response_model_exclude_none=True)
async def get_customer(
    customer_id: str,
    request: Request,
    include_licenses: bool = Query(default=False, alias="includePackageLicenseInfo"),
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, Any]:
    async with unit_of_work(request) as session:
        customer = await service.get(
            CustomerRepository(session, principal), ids.decode("CUSTOMER", customer_id)
        )
    return _dump(present(customer, include_licenses))


@router.put("/{customer_id}", status_code=202, response_model=ResourceUrl)
async def update_customer(
    customer_id: str,
    body: CustomerUpdateIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    async with unit_of_work(request) as session:
        customer = await service.update(
            CustomerRepository(session, principal),
            ids.decode("CUSTOMER", customer_id),
            body.wire(),
        )
        response = _accepted(request, customer)
    if customer.status in service.BUSY:
        await tasks.enqueue(customer.id)
    return response


@router.delete("/{customer_id}", status_code=202)
async def delete_customer(
    customer_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        customer = await service.delete(
            CustomerRepository(session, principal), ids.decode("CUSTOMER", customer_id)
        )
    await tasks.enqueue(customer.id)
    return Response(status_code=202)


@router.post("/{customer_id}/approve", status_code=202, response_model=ResourceUrl)
async def approve_customer(
    customer_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    """Hub extension: release a customer held in ``pending_rpl_review`` (its template asks
    for approval) for provisioning."""
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        customer = await service.approve(
            CustomerRepository(session, principal), ids.decode("CUSTOMER", customer_id)
        )
        response = _accepted(request, customer)
        await idempotency.remember(session, request, principal, response)
    await tasks.enqueue(customer.id)
    return response
