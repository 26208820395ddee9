"""Portal pages: Billing (request a report, watch it render, download or delete it), and the
usage rows the customer page shows (:func:`customer_usage`).

The same service as the API: a request is ``service.create`` (the render job is written with
the report), and a download from the portal is the signed-in administrator's (no signed link
needed: the session is the credential, the report is looked up through the partner's scope).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.billing import service
from partnerhub.billing.repository import BillingRepository, ReportFilters, UsageRow
from partnerhub.catalog import packages
from partnerhub.errors import ApiError, NotFound
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.partners.repository import PartnerRepository
from partnerhub.portal import messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render

router = APIRouter(prefix="/billing", include_in_schema=False)
PAGE_SIZE = 50
TYPE_LABELS = {
    "PARTNER": N_("Partner (per package)"),
    "CUSTOMER": N_("Customer (per customer and package)"),
    "USER": N_("User (per subscriber and package)"),
}
CATEGORY_LABELS = {
    "RECONCILIATION": N_("Reconciliation (days in the period)"),
    "POINT_IN_TIME": N_("Point in time (held at the end of the end date)"),
}
STATUS_LABELS = {
    "IN_PROGRESS": N_("In progress"),
    "COMPLETED": N_("Completed"),
    "FAILED": N_("Failed"),
}


async def customer_usage(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> list[UsageRow]:
    """The customer page's usage this month (packages × days); the rows for
    ``billing/_customer_usage.html`` (``{% include %}`` it with ``usage`` in the context)."""
    return await service.customer_usage(BillingRepository(session, principal), customer_id)


def _ref(report: Any) -> str:
    return service.report_id(report)


async def _page(
    request: Request,
    ctx: portal.PortalContext,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    ctx.principal.require(service.READ)
    async with unit_of_work(request) as db:
        repo = BillingRepository(db, ctx.principal)
        reports = await repo.page(ReportFilters(newest_first=True), 0, PAGE_SIZE)
        subs = await PartnerRepository(db, ctx.principal).sub_partners(None, 0, 1000)
    sub_names = {s.id: s.name for s in subs}
    return render(
        request,
        "billing/list.html",
        {
            "reports": reports,
            "ref": _ref,
            "sub_names": sub_names,
            "subs": [(service.sub_partner_org_id(s.id), s.name) for s in subs],
            "types": TYPE_LABELS,
            "categories": CATEGORY_LABELS,
            "status_labels": STATUS_LABELS,
            "busy": any(r.status == "IN_PROGRESS" for r in reports),
            "can_write": ctx.principal.has(service.WRITE),
            "form": form or {},
            "error": error,
            "requested": request.query_params.get("requested") == "1",
            "deleted": request.query_params.get("deleted") == "1",
        },
        status=status,
    )


@router.get("")
async def billing_page(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return await _page(request, ctx)


@router.get("/reports")
async def reports_fragment(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    """The reports table, polled by the page while a report is in progress."""
    ctx.principal.require(service.READ)
    async with unit_of_work(request) as db:
        reports = await BillingRepository(db, ctx.principal).page(
            ReportFilters(newest_first=True), 0, PAGE_SIZE
        )
        subs = await PartnerRepository(db, ctx.principal).sub_partners(None, 0, 1000)
    return render(
        request,
        "billing/_reports.html",
        {
            "reports": reports,
            "ref": _ref,
            "sub_names": {s.id: s.name for s in subs},
            "types": TYPE_LABELS,
            "status_labels": STATUS_LABELS,
            "can_write": ctx.principal.has(service.WRITE),
            "settled": not any(r.status == "IN_PROGRESS" for r in reports),
        },
    )


@router.post("")
async def request_report(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("start", "end", "type", "category", "sub_partner")
    }
    try:
        async with unit_of_work(request) as db:
            await service.create(
                BillingRepository(db, ctx.principal),
                service.NewReport(
                    billing_start_date=values["start"] or None,
                    billing_end_date=values["end"] or None,
                    type=values["type"] or None,
                    category=values["category"] or None,
                    sub_partner_org_id=values["sub_partner"] or None,
                ),
            )
    except ApiError as exc:
        return await _page(
            request, ctx, values, messages.described(exc, language(request)), exc.status
        )
    return RedirectResponse("/billing?requested=1", status_code=303)


async def _report(request: Request, ctx: portal.PortalContext, report_ref: str) -> Any:
    async with unit_of_work(request) as db:
        return await service.get(
            BillingRepository(db, ctx.principal), ids.decode(service.KIND, report_ref)
        )


@router.get("/{report_ref}/download")
async def download(
    report_ref: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    report = await _report(request, ctx, report_ref)
    path = service.file_path(report.id)
    if report.status != "COMPLETED" or not path.exists():
        raise NotFound("Billing report not found")
    return FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=service.download_name(report),
        headers={"Cache-Control": "no-store"},
    )


@router.post("/{report_ref}/delete")
async def delete(
    report_ref: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    await portal.form_of(request, ctx)
    async with unit_of_work(request) as db:
        report = await service.delete(
            BillingRepository(db, ctx.principal), ids.decode(service.KIND, report_ref)
        )
    service.remove_file(report.id)
    return RedirectResponse("/billing?deleted=1", status_code=303)


def package_label(name: str) -> str:
    package = packages.PACKAGES.get(name)
    return package.label if package else name
