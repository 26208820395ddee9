"""``/v1/wholesale/subscribers`` (CONTRACT section 4), consentMove, and the hub's customer
administrators, roles and bulk imports under ``/v1/partner/...``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError, WithJsonSchema

from partnerhub import ids
from partnerhub.catalog import customer_roles, packages
from partnerhub.errors import (
    ApiError,
    InvalidJson,
    InvalidValue,
    MissingField,
    ValidationFailed,
)
from partnerhub.kit import idempotency, openapi
from partnerhub.kit.pagination import (
    Max100Query,
    Max1000Query,
    OffsetQuery,
    page_params,
    query_bool,
    set_next_link,
)
from partnerhub.kit.schemas import one_of
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work, work
from partnerhub.models import Customer, OrgUser, SubscriberImport
from partnerhub.partners.api import wholesale_principal
from partnerhub.subscribers import imports, service
from partnerhub.subscribers.listing import SORT_COLUMNS, SORT_ORDERS
from partnerhub.subscribers.repository import (
    CustomerKey,
    NewSubscriber,
    SubscriberListing,
    SubscriberRepository,
)
from partnerhub.subscribers.rules import CustomerFacts
from partnerhub.subscribers.schemas import (
    AdministratorList,
    AdministratorOut,
    CustomerRoleList,
    CustomerRoleOut,
    ImportIn,
    ImportList,
    ImportOut,
    ImportRowError,
    PrecheckIn,
    PrecheckInfo,
    PrecheckOut,
    RolesIn,
    SubscriberIn,
    SubscriberList,
    SubscriberOut,
    SubscriberStatus,
    SubscriberUpdateIn,
)

router = APIRouter(prefix="/v1/wholesale/subscribers", tags=["Wholesale Provisioning"])
consent_router = APIRouter(prefix="/v1/subscribers", tags=["Wholesale Provisioning"])
hub_router = APIRouter(prefix="/v1/partner", tags=["Customer administration"])
MAX_REPORTED_ERRORS = 1000  # row problems listed in one import answer


@contextmanager
def wire_names() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        raise service.with_wire_names(exc) from None


def region(customer: CustomerFacts | CustomerKey) -> str:
    return ids.region_of(customer.data_region)


def present_one(
    user: OrgUser | SubscriberListing | NewSubscriber, customer: CustomerFacts | CustomerKey
) -> SubscriberOut:
    """A subscriber's answer (the POST, the GET, the list and the PUT all answer with it)."""
    r = region(customer)
    status = service.wire_status(user)
    package = user.package
    return SubscriberOut(
        id=ids.encode("SUBSCRIBER", user.id, r),
        person_id=ids.encode("PEOPLE", user.id, r) if status == service.PROVISIONED else None,
        email=user.email,
        customer_id=ids.encode("CUSTOMER", customer.id, r),
        external_customer_id=customer.external_id,
        package=package if package in packages.LEGACY_SUBSCRIBER_PACKAGES else None,
        packages=[package] if package else [],
        status=status,
        errors=[],
        created=user.created,
        last_status_change=user.last_status_change,
        first_name=user.first_name,
        last_name=user.last_name,
        primary_phone_number=user.phone_number,
        extension=user.extension,
        location_id=ids.encode("LOCATION", user.location_id, r) if user.location_id else None,
        roles=list(user.roles or []),
    )


async def present(
    repo: SubscriberRepository, users: Sequence[OrgUser | SubscriberListing]
) -> list[SubscriberOut]:
    customers = await repo.customers(u.customer_id for u in users)
    return [present_one(u, customers[u.customer_id]) for u in users]


# ``after`` and ``lastStatusChange``: an ISO 8601 date-time or epoch milliseconds.
Instant = Annotated[
    str | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "pattern": "^-?[0-9]{1,15}$"},
            ]
        }
    ),
]


def _dump(model: object) -> dict[str, object]:
    assert hasattr(model, "model_dump")
    out: dict[str, object] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return out


def _json_response(out: SubscriberOut, request: Request, status: int = 200) -> Response:
    """``out`` serialized once, straight to JSON bytes (no intermediate dict), with the
    subscriber's ``Location``."""
    body = out.__pydantic_serializer__.to_json(out, by_alias=True, exclude_none=True)
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Location": _subscriber_url(request, out)},
    )


def _subscriber_url(request: Request, out: SubscriberOut) -> str:
    """The ``get_subscriber`` URL, as ``request.url_for`` builds it (without its walk over every
    route of the app: a tenth of the POST's CPU)."""
    return f"{str(request.base_url).rstrip('/')}{router.prefix}/{out.id}"


@router.get("", response_model=SubscriberList, response_model_exclude_none=True)
async def list_subscribers(
    request: Request,
    customer_id: str | None = Query(default=None, alias="customerId"),
    person_id: str | None = Query(default=None, alias="personId"),
    external_customer_id: str | None = Query(default=None, alias="externalCustomerId"),
    email: str | None = Query(default=None),
    # default=None, not default_factory=list: pydantic inspects a default factory's signature
    # on every request (about a tenth of the list's CPU)
    status: list[SubscriberStatus] | None = Query(default=None),
    after: Annotated[Instant, Query()] = None,
    last_status_change: Annotated[Instant, Query(alias="lastStatusChange")] = None,
    sort_by: Annotated[str | None, one_of(SORT_COLUMNS), Query(alias="sortBy")] = None,
    sort_order: Annotated[str | None, one_of(SORT_ORDERS), Query(alias="sortOrder")] = None,
    offset: OffsetQuery = None,
    max: Max100Query = None,
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    page = page_params(offset, max, default=50, limit=100)
    query = service.ListQuery(
        customer_id=customer_id,
        person_id=person_id,
        external_customer_id=external_customer_id,
        email=email,
        status=status or [],
        after=after,
        last_status_change=last_status_change,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    async with work(request) as unit:
        repo = SubscriberRepository(unit, principal)
        rows = await service.list_subscriber_rows(repo, query, page.offset, page.max + 1)
    # Serialized once, straight to JSON bytes (no intermediate dict, no second validation
    # against the response model).
    out = SubscriberList(items=[present_one(user, customer) for user, customer in rows[: page.max]])
    body = out.__pydantic_serializer__.to_json(out, by_alias=True, exclude_none=True)
    answer = Response(body, media_type="application/json")
    set_next_link(request, answer, page, has_more=len(rows) > page.max)
    return answer


@router.post(
    "",
    response_model=SubscriberOut,
    response_model_exclude_none=True,
    responses={
        200: openapi.located("The subscriber"),
        202: openapi.located(
            "Accepted: pending_user_migration (the user must consent)", model=SubscriberOut
        ),
    },
)
async def provision_subscriber(
    body: SubscriberIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    # Plain statements in autocommit (the facts, the INSERT); a transaction only when an
    # Idempotency-Key, a limited package or a headquarters to materialize asks for one.
    async with work(request) as unit:
        replay = await idempotency.claim(unit, request, principal)
        if replay is not None:
            return replay
        repo = SubscriberRepository(unit, principal)
        with wire_names():
            created = await service.provision(repo, body.to_input(body.customer_id, body.email))
        out = present_one(created.user, created.customer)
        status = 202 if out.status == service.PENDING else 200
        response = _json_response(out, request, status)
        await idempotency.remember(unit, request, principal, response)
    return response


@router.post("/validate", response_model=PrecheckOut)
async def precheck_subscriber(
    body: PrecheckIn, request: Request, principal: Principal = Depends(wholesale_principal)
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        with wire_names():
            description = await service.precheck(repo, body.to_precheck())
    out = PrecheckOut(message="success", info=PrecheckInfo(info_code=100, description=description))
    return _dump(out)


@router.get(
    "/{subscriber_id}",
    response_model=SubscriberOut,
    response_model_exclude_none=True,
    responses={200: openapi.located("The subscriber")},
)
async def get_subscriber(
    subscriber_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with work(request) as unit:
        repo = SubscriberRepository(unit, principal)
        user, customer = await service.show(repo, ids.decode("SUBSCRIBER", subscriber_id))
    return _json_response(present_one(user, customer), request)


@router.put(
    "/{subscriber_id}",
    response_model=SubscriberOut,
    response_model_exclude_none=True,
    responses={200: openapi.located("The subscriber")},
)
async def update_subscriber(
    subscriber_id: str,
    body: SubscriberUpdateIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> JSONResponse:
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        with wire_names():
            user = await service.update(
                repo, ids.decode("SUBSCRIBER", subscriber_id), body.to_input()
            )
        (out,) = await present(repo, [user])
    return JSONResponse(_dump(out), headers={"Location": _subscriber_url(request, out)})


@router.delete("/{subscriber_id}", status_code=204)
async def delete_subscriber(
    subscriber_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        await service.delete(repo, ids.decode("SUBSCRIBER", subscriber_id))
    return Response(status_code=204)


async def _consent_move(request: Request, subscriber_id: str, principal: Principal) -> Response:
    from partnerhub import runtime
    from partnerhub.notifications import service as notifications

    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        mail = await service.start_consent(repo, ids.decode("SUBSCRIBER", subscriber_id))
        settings = runtime.settings()
        brand = ((mail.customer.settings or {}).get("email") or {}).get("brandName")
        language = notifications.pick_language(
            "subscriber_consent", mail.customer.language, settings_language(mail.customer)
        )
        email_id = await notifications.queue(
            session,
            partner_id=mail.customer.partner_id,
            customer_id=mail.customer.id,
            dedupe_key=f"subscriber:{mail.user.id}:consent:{mail.user.consent_sent:%s%f}",
            kind="subscriber_consent",
            to=mail.user.email,
            language=language,
            context={
                "brand_name": brand or "PartnerHub",
                "customer_name": mail.customer.name or mail.customer.external_id,
                "email": mail.user.email,
                "consent_url": f"{settings.base_url()}/consent/{mail.token}",
                "hours": settings.invitation_hours,
            },
            from_name=brand,
        )
    if email_id is not None and notifications.smtp_configured():
        from partnerhub.notifications.tasks import enqueue

        await enqueue(email_id)
    return Response(status_code=204)


def settings_language(customer: Customer) -> str | None:
    value = (customer.settings or {}).get("defaultEmailLanguage")
    return value if isinstance(value, str) else None


@router.post("/{subscriber_id}/emails/consentMove", status_code=204)
async def consent_move(
    subscriber_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    return await _consent_move(request, subscriber_id, principal)


@consent_router.post("/{subscriber_id}/emails/consentMove", status_code=204)
async def consent_move_legacy(
    subscriber_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    """The path the published spec gives (without ``/wholesale``)."""
    return await _consent_move(request, subscriber_id, principal)


# --- customer administrators and roles (hub) -------------------------------------------------


@hub_router.get("/customerRoles", response_model=CustomerRoleList)
async def list_customer_roles(
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    principal.require(service.READ)
    items = [
        CustomerRoleOut(name=r.name, label=r.label, description=r.description)
        for r in customer_roles.CUSTOMER_ROLES.values()
    ]
    return _dump(CustomerRoleList(items=items))


def present_admin(user: OrgUser, customer: Customer) -> AdministratorOut:
    return AdministratorOut(
        person_id=ids.encode("PEOPLE", user.id, region(customer)),
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        package=user.package,
        roles=list(user.roles or []),
        status=service.wire_status(user),
    )


@hub_router.get("/customers/{customer_id}/administrators", response_model=AdministratorList)
async def list_administrators(
    customer_id: str,
    request: Request,
    response: Response,
    offset: OffsetQuery = None,
    max: Max1000Query = None,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    page = page_params(offset, max, default=100, limit=1000)
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        customer, rows = await service.administrators(repo, customer_id, page.offset, page.max + 1)
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    items = [present_admin(u, customer) for u in rows[: page.max]]
    return _dump(AdministratorList(items=items))


@hub_router.get(
    "/customers/{customer_id}/administrators/{person_id}", response_model=AdministratorOut
)
async def get_administrator(
    customer_id: str,
    person_id: str,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    principal.require(service.READ)
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        customer = await service.customer_of(repo, customer_id)
        user = await service.user_of(repo, customer, person_id)
    return _dump(present_admin(user, customer))


@hub_router.put(
    "/customers/{customer_id}/administrators/{person_id}/roles", response_model=AdministratorOut
)
async def set_administrator_roles(
    customer_id: str,
    person_id: str,
    body: RolesIn,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        with wire_names():
            customer, user = await service.set_roles(repo, customer_id, person_id, body.roles)
    return _dump(present_admin(user, customer))


# --- bulk imports (hub) ----------------------------------------------------------------------


def present_import(request: Request, record: SubscriberImport, customer: Customer) -> ImportOut:
    r = region(customer)
    customer_ref = ids.encode("CUSTOMER", customer.id, r)
    import_ref = ids.encode("IMPORT", record.id, r)
    result_url = None
    if record.status == "succeeded":
        result_url = str(
            request.url_for("get_import_result", customer_id=customer_ref, import_id=import_ref)
        )
    return ImportOut(
        id=import_ref,
        customer_id=customer_ref,
        status=record.status,
        total=record.total,
        processed=record.processed,
        created_count=record.created_count,
        existing_count=record.existing_count,
        errors=[
            ImportRowError(
                row=int(e.get("row", 0)),
                column=str(e.get("column", "")),
                message=str(e.get("message", "")),
                error_code=int(e.get("errorCode", 1003)),
            )
            for e in record.errors or []
        ],
        created=record.created,
        finished=record.finished,
        result_url=result_url,
    )


async def _import_body(request: Request) -> tuple[str, bool]:
    """The CSV text: a ``text/csv`` body, or JSON ``{"csv": "...", "dryRun": false}``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    dry_query = bool(query_bool("dryRun", request.query_params.get("dryRun")))
    raw = await request.body()
    if ctype == "text/csv":
        try:
            return raw.decode("utf-8"), dry_query
        except UnicodeDecodeError:
            raise imports.CsvProblem("csv: the file is not UTF-8 text", field="csv") from None
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise InvalidJson("The request body is not a valid JSON object") from None
    if not isinstance(data, dict):
        raise InvalidJson("The request body is not a valid JSON object")
    try:
        body = ImportIn.model_validate(data)
    except ValidationError as exc:
        problems: list[ApiError] = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err.get("loc", ())) or "body"
            if err.get("type") == "missing":
                problems.append(MissingField(f"{name}: is required"))
            else:
                problems.append(InvalidValue(f"{name}: {err.get('msg', 'invalid value')}"))
        raise ValidationFailed(problems) if len(problems) > 1 else problems[0] from None
    return body.csv, body.dry_run or dry_query


@hub_router.post(
    "/customers/{customer_id}/imports",
    status_code=202,
    response_model=ImportOut,
    responses={
        200: {"model": ImportOut, "description": "dryRun: checked, nothing imported"},
        202: openapi.located("Accepted: the import is queued"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,  # the file, as text/csv or in JSON: no body is a 400
            "content": {
                "application/json": {"schema": ImportIn.model_json_schema(by_alias=True)},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "parameters": [
            {
                "name": "dryRun",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean"},
                "description": "Check only, import nothing (as the body's dryRun).",
            }
        ],
    },
)
async def create_import(
    customer_id: str, request: Request, principal: Principal = Depends(wholesale_principal)
) -> Response:
    """Check a CSV of subscribers and, when every row passes, import it in the background.

    Failing rows → 400 with one error per problem (``row N, column: message``) and nothing
    imported. ``dryRun`` → 200 with the counts, nothing imported. Otherwise 202, ``Location``
    of the import (poll it; ``resultUrl`` once it has ``succeeded``).
    """
    from partnerhub.subscribers import tasks

    principal.require(service.WRITE)
    text, dry_run = await _import_body(request)
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        repo = SubscriberRepository(session, principal)
        customer = await service.customer_of(repo, customer_id)
        report, started = await imports.start(repo, customer, text, principal, dry_run=dry_run)
        if report.errors:
            shown = report.errors[:MAX_REPORTED_ERRORS]
            problems = [
                ApiError(e.describe(), code=e.code, status=400, field=e.column) for e in shown
            ]
            if len(report.errors) > len(shown):
                more = len(report.errors) - len(shown)
                problems.append(
                    InvalidValue(f"... and {more} more problems (check the file with the CLI)")
                )
            raise ValidationFailed(problems)
        record = started or SubscriberImport(
            partner_id=customer.partner_id,
            customer_id=customer.id,
            created_by=principal.actor_email,
            status="checked",
            total=report.total,
            processed=0,
            created_count=len(report.plans),
            existing_count=len(report.existing),
            source="",
            errors=[],
        )
        out = present_import(request, record, customer)
        if dry_run:
            out.id = None
            response = JSONResponse(_dump(out), status_code=200)
        else:
            url = str(request.url_for("get_import", customer_id=out.customer_id, import_id=out.id))
            response = JSONResponse(_dump(out), status_code=202, headers={"Location": url})
        await idempotency.remember(session, request, principal, response)
    if not dry_run:
        await tasks.enqueue(record.id, customer.id)
    return response


@hub_router.get("/customers/{customer_id}/imports", response_model=ImportList)
async def list_imports(
    customer_id: str,
    request: Request,
    response: Response,
    offset: OffsetQuery = None,
    max: Max1000Query = None,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    principal.require(service.READ)
    page = page_params(offset, max, default=100, limit=1000)
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, principal)
        customer = await service.customer_of(repo, customer_id)
        rows = await repo.imports(customer.id, page.offset, page.max + 1)
        items = [present_import(request, r, customer) for r in rows[: page.max]]
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    return _dump(ImportList(items=items))


@hub_router.get("/customers/{customer_id}/imports/{import_id}", response_model=ImportOut)
async def get_import(
    customer_id: str,
    import_id: str,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        customer, record = await service.import_of(
            SubscriberRepository(session, principal), customer_id, import_id
        )
        out = present_import(request, record, customer)
    return _dump(out)


@hub_router.get(
    "/customers/{customer_id}/imports/{import_id}/result",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_import_result(
    customer_id: str,
    import_id: str,
    request: Request,
    principal: Principal = Depends(wholesale_principal),
) -> Response:
    async with unit_of_work(request) as session:
        _, record = await service.import_of(
            SubscriberRepository(session, principal), customer_id, import_id
        )
    return Response(
        service.import_result(record),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}.csv"'},
    )
