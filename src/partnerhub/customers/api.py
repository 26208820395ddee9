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
from partnerhub.customers.repository import CustomerListing, CustomerRepository, RememberedAnswer
from partnerhub.customers.schemas import (
    CustomerIn,
    CustomerList,
    CustomerOut,
    CustomerPrecheckIn,
    CustomerStatus,
    CustomerUpdateIn,
    PrecheckInfo,
    PrecheckOut,
    ResourceUrl,
)
from partnerhub.errors import Conflict
from partnerhub.kit import idempotency, openapi
from partnerhub.kit.pagination import Max100Query, OffsetQuery, page_params, set_next_link
from partnerhub.kit.schemas import iso_z
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work, work
from partnerhub.models import Customer
from partnerhub.partners.api import wholesale_principal

router = APIRouter(prefix="/v1/wholesale/customers", tags=["Wholesale Provisioning"])


def customer_id(customer: Customer | CustomerListing) -> str:
    return ids.encode("CUSTOMER", customer.id, ids.region_of(customer.data_region))


def org_id(customer: Customer | CustomerListing) -> str | None:
    """The customer's organization id (``orgId``), the same string on every endpoint."""
    if customer.org_id is None:
        return None
    return ids.encode("ORGANIZATION", customer.org_id, ids.region_of(customer.data_region))


ADDRESS_KEYS = (
    "addressLine1",
    "addressLine2",
    "city",
    "stateOrProvince",
    "zipOrPostalCode",
    "country",
)


def _errors(items: Any) -> list[dict[str, Any]]:
    return [
        {"errorCode": int(e.get("errorCode", 0)), "description": str(e.get("description", ""))}
        for e in items or []
        if isinstance(e, dict)
    ]


def present(customer: Customer | CustomerListing, include_licenses: bool = False) -> dict[str, Any]:
    """The wire form of a customer (``CustomerOut`` documents it; built as a plain dict
    because lists of 100 customers must stay fast)."""
    packages = []
    for entry in (customer.resource_details or {}).get("packages") or []:
        package: dict[str, Any] = {
            "name": entry["name"],
            "status": entry.get("status", "provisioning"),
            "warnings": _errors(entry.get("warnings")),
            "errors": _errors(entry.get("errors")),
        }
        if include_licenses:
            package["licenseIds"] = (
                [service.license_id(customer, entry["name"])]
                if entry.get("status") == "provisioned"
                else []
            )
        packages.append(package)
    out: dict[str, Any] = {"id": customer_id(customer)}
    if customer.org_id is not None:
        out["orgId"] = org_id(customer)
    out["externalId"] = customer.external_id
    out["address"] = {k: v for k, v in (customer.address or {}).items() if k in ADDRESS_KEYS}
    out["status"] = customer.status
    out["packages"] = list(customer.packages or [])
    out["resourceDetails"] = {"packages": packages}
    out["errors"] = _errors(customer.errors)
    if customer.name is not None:
        out["name"] = customer.name
    out["dataRegion"] = customer.data_region
    out["provisioningId"] = customer.provisioning_id
    out["created"] = iso_z(customer.created)
    out["lastStatusChange"] = iso_z(customer.last_status_change)
    return out


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return out


def customer_url(request: Request, customer: Customer | CustomerListing) -> str:
    """Absolute URL of the customer; keeps ``onBehalfOfSubPartnerOrgId`` when acting for a
    sub-partner (the parent's plain URL would be 404)."""
    # the ``get_customer`` URL as ``request.url_for`` builds it, without its walk over every
    # route of the app
    url = f"{str(request.base_url).rstrip('/')}{router.prefix}/{customer_id(customer)}"
    on_behalf = getattr(request.state, "on_behalf_of", None)
    if on_behalf:
        url += "?" + urlencode({"onBehalfOfSubPartnerOrgId": on_behalf})
    return url


def _accepted(request: Request, customer: Customer | CustomerListing) -> JSONResponse:
    url = customer_url(request, customer)
    return JSONResponse(_dump(ResourceUrl(url=url)), status_code=202, headers={"Location": url})


@router.get("", response_model=CustomerList, response_model_exclude_none=True)
async def list_customers(
    request: Request,
    external_id: str | None = Query(default=None, alias="externalId"),
    org_id_filter: str | None = Query(default=None, alias="orgId"),
    status: list[CustomerStatus] | None = Query(
        default=None, description="Repeatable, or comma-separated statuses."
    ),
    offset: OffsetQuery = None,
    max: Max100Query = None,
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    page = page_params(offset, max, default=100, limit=100)
    filters = service.parse_filters(external_id, org_id_filter, status)
    async with work(request) as unit:  # plain statements, no ORM session
        rows = await service.list_customers(
            CustomerRepository(unit, principal), filters, page.offset, page.max + 1
        )
    response = JSONResponse({"items": [present(c) for c in rows[: page.max]]})
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    return response


@router.post(
    "",
    status_code=202,
    response_model=ResourceUrl,
    responses={202: openapi.located("Accepted: the customer is being provisioned")},
)
async def provision_customer(
    body: CustomerIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    """Two plain statements, each on its own in autocommit (no ORM session, no transaction;
    tests/customers/test_statement_budget.py): every fact the rules read (with whether the
    ``Idempotency-Key`` is known), then the customer, its first event, its provisioning job
    and the key with its answer, in one statement. A known key (a replay, or an expired one
    claimed anew) takes the ORM session and its transaction."""
    key = idempotency.key_of(request)
    try:
        async with work(request) as unit:
            repo = CustomerRepository(unit, principal)
            customer = await service.new_customer(repo, body, key)
            if customer is None:  # the key is known: replay or refuse (or, expired, claim) it
                replay = await idempotency.claim(unit, request, principal)
                if replay is not None:
                    return replay
                customer = await service.new_customer(repo, body)
                assert customer is not None
                response = _accepted(request, customer)
                await service.create(repo, customer)
                await idempotency.remember(unit, request, principal, response)
                return response
            response = _accepted(request, customer)
            remembered = None
            if key is not None:
                remembered = RememberedAnswer(
                    key=key,
                    fingerprint=idempotency.fingerprint(
                        request.method, request.url.path, principal.partner_id, await request.body()
                    ),
                    status=response.status_code,
                    headers={
                        "location": response.headers["location"],
                        "content-type": response.headers["content-type"],
                    },
                    body=bytes(response.body),
                    ttl=idempotency.TTL,
                )
            await service.create(repo, customer, remembered)
    except Conflict:
        if key is None:
            raise
        # Lost a race to a request with the same key (its answer is to be replayed) or to
        # another one (the conflict stands; the claim is rolled back with it).
        async with work(request) as unit:
            replay = await idempotency.claim(unit, request, principal)
            if replay is None:
                raise
            return replay
    return response


@router.post("/validate", response_model=PrecheckOut)
async def precheck_customer(
    body: CustomerPrecheckIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        description = await service.precheck(CustomerRepository(session, principal), body)
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
) -> Response:
    async with work(request) as unit:  # one plain statement in autocommit
        customer = await service.get_listed(
            CustomerRepository(unit, principal), ids.decode("CUSTOMER", customer_id)
        )
    return JSONResponse(present(customer, include_licenses))


@router.put(
    "/{customer_id}",
    status_code=202,
    response_model=ResourceUrl,
    responses={202: openapi.located("Accepted: the change is being provisioned")},
)
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
            body,
        )
        response = _accepted(request, customer)
    if customer.status in service.BUSY:
        await tasks.enqueue(customer.id)
    return response


@router.delete(
    "/{customer_id}",
    status_code=202,
    response_class=Response,
    responses={202: openapi.bodiless("Accepted: the customer is being deleted (no body)")},
)
async def delete_customer(
    customer_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        customer = await service.delete(
            CustomerRepository(session, principal), ids.decode("CUSTOMER", customer_id)
        )
    await tasks.enqueue(customer.id)
    return Response(status_code=202)


@router.post(
    "/{customer_id}/approve",
    status_code=202,
    response_model=ResourceUrl,
    responses={202: openapi.located("Accepted: the customer is being provisioned")},
)
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
