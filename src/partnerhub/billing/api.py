"""``/v1/wholesale/billing/reports``: the vendor's four billing report operations
(CONTRACT section 5), and the signed download behind ``tempDownloadURL``.

Billing acts for the caller's own partner (``subPartnerOrgId`` narrows a report to one of its
sub-partners); ``onBehalfOfSubPartnerOrgId`` is not used here. The ``POST`` sends two statements
in its transaction (tests/billing/test_statement_budget.py): the facts its rules read, then the
report with its render job (one statement, so the job exists exactly when the report does).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import WithJsonSchema

from partnerhub import ids
from partnerhub.billing import service
from partnerhub.billing.repository import SORT_COLUMNS, BillingRepository
from partnerhub.billing.schemas import ReportCreated, ReportIn, ReportList, ReportOut
from partnerhub.kit import idempotency
from partnerhub.kit.pagination import Max100Query, OffsetQuery, page_params, set_next_link
from partnerhub.kit.schemas import iso_z, one_of
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.models import BillingReport

# The list's date filters: a date, or a full ISO date-time (its date is used).
DayQuery = Annotated[
    str | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        }
    ),
]

router = APIRouter(prefix="/v1/wholesale/billing/reports", tags=["Wholesale Billing Reports"])


def _created(report: BillingReport) -> dict[str, Any]:
    return {
        "id": service.report_id(report),
        "billingStartDate": report.billing_start_date.isoformat(),
        "billingEndDate": report.billing_end_date.isoformat(),
        "type": report.type,
        "category": report.category,
    }


def present(report: BillingReport, download_url: str | None = None) -> dict[str, Any]:
    """The wire form of a report (``ReportOut`` documents it)."""
    out = _created(report)
    out["status"] = report.status
    out["created"] = iso_z(report.created)
    if report.created_by is not None:
        out["createdBy"] = ids.encode("PEOPLE", report.created_by, ids.HUB)
    if report.sub_partner_id is not None:
        out["subPartnerOrgId"] = service.sub_partner_org_id(report.sub_partner_id)
    if download_url is not None:
        out["tempDownloadURL"] = download_url
    out["errors"] = [
        {"code": int(e.get("code", 0)), "description": str(e.get("description", ""))}
        for e in report.errors or []
        if isinstance(e, dict)
    ]
    return out


def download_url(request: Request, report: BillingReport, token: str) -> str:
    url = str(request.url_for("download_billing_report", report_id=service.report_id(report)))
    return url + "?" + urlencode({"token": token})


@router.post("", response_model=ReportCreated)
async def create_report(
    body: ReportIn, request: Request, principal: Principal = Depends(api_principal)
) -> Response:
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        report = await service.create(
            BillingRepository(session, principal),
            service.NewReport(
                billing_start_date=body.billing_start_date,
                billing_end_date=body.billing_end_date,
                type=body.type,
                category=body.category,
                sub_partner_org_id=body.sub_partner_org_id,
                internal=body.internal,
            ),
        )
        response = JSONResponse(_created(report))
        await idempotency.remember(session, request, principal, response)
    return response


@router.get("", response_model=ReportList, response_model_exclude_none=True)
async def list_reports(
    request: Request,
    billing_start_date: Annotated[DayQuery, Query(alias="billingStartDate")] = None,
    billing_end_date: Annotated[DayQuery, Query(alias="billingEndDate")] = None,
    type_: Annotated[str | None, one_of(service.TYPES), Query(alias="type")] = None,
    status: Annotated[str | None, one_of(service.STATUSES), Query()] = None,
    sort_by: Annotated[str | None, one_of(SORT_COLUMNS), Query(alias="sortBy")] = None,
    sub_partner: str | None = Query(default=None, alias="subPartnerOrgId"),
    offset: OffsetQuery = None,
    max: Max100Query = None,
    principal: Principal = Depends(api_principal),
) -> Response:
    page = page_params(offset, max, default=100, limit=100)
    async with unit_of_work(request) as session:
        repo = BillingRepository(session, principal)
        filters = await service.parse_filters(
            repo, billing_start_date, billing_end_date, type_, status, sort_by, sub_partner
        )
        rows = await service.list_reports(repo, filters, page.offset, page.max + 1)
    response = JSONResponse({"items": [present(r) for r in rows[: page.max]]})
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    return response


@router.get("/{report_id}", response_model=ReportOut, response_model_exclude_none=True)
async def get_report(
    report_id: str, request: Request, principal: Principal = Depends(api_principal)
) -> Response:
    async with unit_of_work(request) as session:
        report = await service.get(
            BillingRepository(session, principal), ids.decode(service.KIND, report_id)
        )
        url = None
        if report.status == "COMPLETED":
            url = download_url(request, report, await service.download_token(session, report))
    return JSONResponse(present(report, url))


@router.delete("/{report_id}", status_code=204)
async def delete_report(
    report_id: str, request: Request, principal: Principal = Depends(api_principal)
) -> Response:
    async with unit_of_work(request) as session:
        report = await service.delete(
            BillingRepository(session, principal), ids.decode(service.KIND, report_id)
        )
    service.remove_file(report.id)
    return Response(status_code=204)


@router.get(
    "/{report_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The report's CSV"}},
)
async def download_billing_report(
    report_id: str, request: Request, token: str | None = Query(default=None)
) -> Response:
    """The CSV behind ``tempDownloadURL``: no bearer token, the signed ``token`` is the
    credential (forged, altered, expired or another report's: 403; report gone: 404)."""
    async with unit_of_work(request) as session:
        report, path = await service.downloadable(
            session, ids.decode(service.KIND, report_id), token
        )
    return FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=service.download_name(report),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
