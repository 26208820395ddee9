"""Bulk onboarding in the portal: a CSV of subscribers uploaded on the
customer's set-up page.

* ``POST /customers/{id}/setup/import`` — the file (multipart, at most the app's body limit),
  "Precheck only" optionally. Every row is checked by :func:`partnerhub.subscribers.imports.start`
  (the same rules as the API and the CLI); a failing row → the rows' errors (row, column,
  message), nothing imported; "Precheck only" → the counts, nothing imported; otherwise the
  import job is deferred and the browser goes to the import's page.
* ``GET /customers/{id}/setup/imports/{import}`` — its progress, live (``data-poll`` on
  ``.../progress``, a small fragment), and the result CSV (``.../result``) once it succeeded.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from partnerhub import ids, runtime
from partnerhub.errors import ApiError, MissingField
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Customer, SubscriberImport
from partnerhub.portal import messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.subscribers import imports, service
from partnerhub.subscribers.repository import SubscriberRepository

router = APIRouter(include_in_schema=False)

NO_FILE = N_("Choose a CSV file to upload")
NOT_UTF8 = N_("The file is not UTF-8 text")
TOO_LARGE = N_("The file is larger than %(size)s bytes")
SETTLED = ("succeeded", "failed")


def _iref(record: SubscriberImport, customer: Customer) -> str:
    return ids.encode("IMPORT", record.id, ids.region_of(customer.data_region))


async def _read_file(request: Request, form: Any) -> str:
    _ = gettext_for(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise MissingField(_(NO_FILE), field="file")
    limit = runtime.settings().max_body_bytes
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(_(TOO_LARGE) % {"size": limit}, status=413, code=1400, field="file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise imports.CsvProblem(_(NOT_UTF8), field="file") from None


def _check_page(
    request: Request,
    cid: str,
    customer: Customer,
    *,
    report: imports.Report | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "setup/import_check.html",
        {"cid": cid, "customer": customer, "report": report, "error": error},
        status=status,
    )


@router.post("/customers/{customer_id}/setup/import")
async def upload(
    customer_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_active_admin),
) -> Response:
    from partnerhub.subscribers import tasks

    form = await portal.form_of(request, ctx)
    ctx.principal.require(service.WRITE)
    precheck = form.get("precheck") == "on"
    async with unit_of_work(request) as db:
        customer = await service.customer_of(SubscriberRepository(db, ctx.principal), customer_id)
    record: SubscriberImport | None = None
    try:
        text = await _read_file(request, form)
        async with unit_of_work(request) as db:
            repo = SubscriberRepository(db, ctx.principal)
            report, record = await imports.start(
                repo, customer, text, ctx.principal, dry_run=precheck
            )
    except ApiError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return _check_page(
            request,
            customer_id,
            customer,
            error=messages.described(exc, language(request)),
            status=exc.status,
        )
    if report.errors:
        return _check_page(request, customer_id, customer, report=report, status=400)
    if record is None:
        return _check_page(request, customer_id, customer, report=report)
    await tasks.enqueue(record.id, customer.id)
    return RedirectResponse(
        f"/customers/{customer_id}/setup/imports/{_iref(record, customer)}", status_code=303
    )


async def _import(
    request: Request, ctx: portal.PortalContext, customer_id: str, import_id: str
) -> tuple[Customer, SubscriberImport]:
    async with unit_of_work(request) as db:
        return await service.import_of(
            SubscriberRepository(db, ctx.principal), customer_id, import_id
        )


async def _import_page(
    request: Request, ctx: portal.PortalContext, cid: str, import_id: str, template: str
) -> Response:
    """The import's page, or its live part (same context)."""
    customer, record = await _import(request, ctx, cid, import_id)
    iid = _iref(record, customer)
    context = {
        "cid": cid,
        "customer": customer,
        "job": record,
        "iid": iid,
        "settled": record.status in SETTLED,
        "percent": int(100 * record.processed / record.total) if record.total else 0,
        "base": f"/customers/{cid}/setup/imports/{iid}",
    }
    return render(request, template, context)


@router.get("/customers/{customer_id}/setup/imports/{import_id}")
async def progress_page(
    customer_id: str,
    import_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    return await _import_page(request, ctx, customer_id, import_id, "setup/import.html")


@router.get("/customers/{customer_id}/setup/imports/{import_id}/progress")
async def progress_fragment(
    customer_id: str,
    import_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    """The live part of the import page, polled while the import runs."""
    return await _import_page(request, ctx, customer_id, import_id, "setup/_import_progress.html")


@router.get("/customers/{customer_id}/setup/imports/{import_id}/result")
async def result(
    customer_id: str,
    import_id: str,
    request: Request,
    ctx: portal.PortalContext = Depends(portal.require_admin),
) -> Response:
    _customer, record = await _import(request, ctx, customer_id, import_id)
    return Response(
        service.import_result(record),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}.csv"'},
    )
