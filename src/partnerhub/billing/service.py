"""Rules of the wholesale billing reports (CONTRACT section 5; docs/billing.md).

* Create (scope ``spark-admin:wholesale_billing_reports_write``): ``billingStartDate`` and
  ``billingEndDate`` are required ``YYYY-MM-DD`` dates, start ≤ end, the end before today (UTC)
  and the start within the last five years; ``type`` ``PARTNER`` (default), ``CUSTOMER`` or
  ``USER``; ``category`` ``RECONCILIATION`` (default) or ``POINT_IN_TIME``;
  ``subPartnerOrgId`` one of the caller's direct sub-partners (404 otherwise). A report for
  the same dates, type and sub-partner that has not failed → 409 (errorCode 1203). The report
  starts ``IN_PROGRESS``; its render job (``tasks.render``) is written with it, in the same
  statement of the request's transaction (``BillingRepository.add``).
* Read (``_read``, implied by ``_write``): the caller's own reports only; another partner's id
  is 404. ``tempDownloadURL`` is signed at each read and expires after
  :data:`DOWNLOAD_MINUTES`; the download needs no token (like the vendor's), only the
  signature, which names the report.
* Delete: the report and its file.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids, runtime
from partnerhub.audit import service as audit
from partnerhub.billing.repository import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    SORT_COLUMNS,
    BillingRepository,
    ReportFilters,
    UsageRow,
)
from partnerhub.errors import ApiError, Conflict, InvalidValue, MissingField, NotFound
from partnerhub.identity.org_auth import LinkRefused, read_link_token, sign_link_token
from partnerhub.models import BillingReport
from partnerhub.models.base import utcnow

READ = "spark-admin:wholesale_billing_reports_read"
WRITE = "spark-admin:wholesale_billing_reports_write"
TYPES = ("PARTNER", "CUSTOMER", "USER")
CATEGORIES = ("RECONCILIATION", "POINT_IN_TIME")
STATUSES = (IN_PROGRESS, COMPLETED, FAILED)
DUPLICATE_CODE = 1203
FAILED_CODE = 2600  # background: the report could not be rendered
DOWNLOAD_MINUTES = 60
DOWNLOAD_PURPOSE = "billing_report"
DOWNLOAD_KEY = "billing-download"
KIND = "BILLING_REPORT"
YEARS_BACK = 5
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ].*")


def report_id(report: BillingReport) -> str:
    return ids.encode(KIND, report.id, ids.HUB)


def sub_partner_org_id(partner_id: uuid.UUID | None) -> str | None:
    return ids.encode("ORGANIZATION", partner_id, ids.HUB) if partner_id else None


def today() -> date:
    return datetime.now(UTC).date()


def parse_date(name: str, raw: str | None, *, required: bool, full: bool = False) -> date | None:
    """A ``YYYY-MM-DD`` date (``full``: an ISO date-time is accepted too, its date kept)."""
    if raw is None or (isinstance(raw, str) and not raw.strip() and required):
        if required:
            raise MissingField(f"{name} is required", field=name)
        return None
    text_ = raw.strip()
    match = _DATETIME_RE.fullmatch(text_) if full else None
    if match is not None:
        text_ = match.group(1)
    if not _DATE_RE.fullmatch(text_):
        raise InvalidValue(
            f"{name}: '{raw}' is not a date (YYYY-MM-DD)",
            field=name,
            reason="not_date",
            params={"value": raw},
        )
    try:
        return date.fromisoformat(text_)
    except ValueError:
        raise InvalidValue(
            f"{name}: '{raw}' is not a date (YYYY-MM-DD)",
            field=name,
            reason="not_date",
            params={"value": raw},
        ) from None


def _choice(
    name: str, raw: str | None, allowed: tuple[str, ...], default: str | None
) -> str | None:
    if raw is None:
        return default
    value = raw.strip().upper()
    if value not in allowed:
        raise InvalidValue(f"{name}: '{raw}' is not allowed ({', '.join(allowed)})", field=name)
    return value


def five_years_before(day: date) -> date:
    try:
        return day.replace(year=day.year - YEARS_BACK)
    except ValueError:  # 29 February
        return day.replace(year=day.year - YEARS_BACK, day=28)


@dataclass(frozen=True)
class NewReport:
    billing_start_date: str | None
    billing_end_date: str | None
    type: str | None = None
    category: str | None = None
    sub_partner_org_id: str | None = None
    internal: bool | None = None


def _sub_partner_ref(org_id: str | None) -> tuple[bool, uuid.UUID | None]:
    """(named, decoded id) of ``subPartnerOrgId``."""
    if org_id is None:
        return False, None
    return True, ids.decode("ORGANIZATION", org_id.strip())


async def create(repo: BillingRepository, new: NewReport) -> BillingReport:
    repo.principal.require(WRITE)
    start = parse_date("billingStartDate", new.billing_start_date, required=True)
    end = parse_date("billingEndDate", new.billing_end_date, required=True)
    assert start is not None and end is not None
    kind = _choice("type", new.type, TYPES, "PARTNER")
    category = _choice("category", new.category, CATEGORIES, "RECONCILIATION")
    assert kind is not None and category is not None
    now = today()
    if start > end:
        raise InvalidValue(
            f"billingStartDate: '{start}' is after billingEndDate '{end}'",
            field="billingStartDate",
            reason="after_end",
        )
    if end >= now:
        raise InvalidValue(
            f"billingEndDate: '{end}' must be before today ({now})",
            field="billingEndDate",
            reason="not_before_today",
        )
    if start < five_years_before(now):
        raise InvalidValue(
            f"billingStartDate: '{start}' is more than {YEARS_BACK} years ago",
            field="billingStartDate",
            reason="too_old",
            params={"years": YEARS_BACK},
        )
    named, sub_id = _sub_partner_ref(new.sub_partner_org_id)
    facts = await repo.new_report_facts(sub_id)
    if named and (sub_id is None or not facts.sub_partner_ok):
        raise NotFound(
            "subPartnerOrgId: no sub-partner of yours has this organization id",
            field="subPartnerOrgId",
        )
    report = BillingReport(
        id=uuid.uuid4(),
        partner_id=repo.principal.partner_id,
        sub_partner_id=sub_id,
        billing_start_date=start,
        billing_end_date=end,
        type=kind,
        category=category,
        status=IN_PROGRESS,
        internal=bool(new.internal),
        created=utcnow(),
        created_by=facts.created_by,
        errors=[],
    )
    # Written by the report's own statement, only when the report is.
    logged = audit.build(repo.principal, "billing.report_create", **_audited(report))
    if not await repo.add(report, logged):
        raise Conflict(
            f"A {kind} billing report for {start} to {end} already exists and has not failed",
            code=DUPLICATE_CODE,
        )
    return report


async def parse_filters(
    repo: BillingRepository,
    billing_start_date: str | None,
    billing_end_date: str | None,
    type_: str | None,
    status: str | None,
    sort_by: str | None,
    sub_partner: str | None,
) -> ReportFilters:
    sort = (sort_by or "billingStartDate").strip()
    if sort not in SORT_COLUMNS:
        raise InvalidValue(
            f"sortBy: '{sort_by}' is not allowed ({', '.join(SORT_COLUMNS)})", field="sortBy"
        )
    sub_id = None
    if sub_partner is not None:
        sub_id = ids.decode("ORGANIZATION", sub_partner.strip())
        if sub_id is None:
            raise InvalidValue(
                f"subPartnerOrgId: '{sub_partner}' is not an organization id",
                field="subPartnerOrgId",
            )
    return ReportFilters(
        billing_start_date=parse_date(
            "billingStartDate", billing_start_date, required=False, full=True
        ),
        billing_end_date=parse_date("billingEndDate", billing_end_date, required=False, full=True),
        type=_choice("type", type_, TYPES, None),
        status=_choice("status", status, STATUSES, None),
        sub_partner_id=sub_id,
        sort_by=sort,
    )


async def list_reports(
    repo: BillingRepository, filters: ReportFilters, offset: int, limit: int
) -> list[BillingReport]:
    repo.principal.require(READ)
    return await repo.page(filters, offset, limit)


async def get(repo: BillingRepository, report_ref: uuid.UUID | None) -> BillingReport:
    repo.principal.require(READ)
    report = await repo.get(report_ref) if report_ref is not None else None
    if report is None:
        raise NotFound("Billing report not found")
    return report


async def delete(repo: BillingRepository, report_ref: uuid.UUID | None) -> BillingReport:
    """Remove the report; the caller unlinks its file after the commit (:func:`remove_file`)."""
    repo.principal.require(WRITE)
    report = await get(repo, report_ref)
    await repo.remove(report)
    audit.record(repo.session, repo.principal, "billing.report_delete", **_audited(report))
    return report


def _audited(report: BillingReport) -> dict[str, Any]:
    """The audit row's target of a report's request or deletion."""
    return {
        "target_type": "BILLING_REPORT",
        "target_id": report_id(report),
        "target_name": f"{report.type} {report.billing_start_date} – {report.billing_end_date}",
        "detail": {
            "category": report.category,
            "subPartnerOrgId": sub_partner_org_id(report.sub_partner_id),
        },
    }


# --- the file and its signed link ----------------------------------------------------------


def reports_dir() -> Path:
    return runtime.settings().data_dir / "billing"


def file_path(report_uuid: uuid.UUID) -> Path:
    return reports_dir() / f"{report_uuid}.csv"


def remove_file(report_uuid: uuid.UUID) -> None:
    for path in (file_path(report_uuid), file_path(report_uuid).with_suffix(".part")):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def download_name(report: BillingReport) -> str:
    return (
        f"billing-{report.type.lower()}-{report.billing_start_date}-{report.billing_end_date}.csv"
    )


async def download_token(session: AsyncSession, report: BillingReport) -> str:
    expires = utcnow() + timedelta(minutes=DOWNLOAD_MINUTES)
    return await sign_link_token(session, DOWNLOAD_PURPOSE, report.id, expires, DOWNLOAD_KEY)


class DownloadRefused(ApiError):
    """The link is forged, altered, expired or made for another report (nothing more said)."""

    status, code = 403, 1300


async def downloadable(
    session: AsyncSession, report_ref: uuid.UUID | None, token: str | None
) -> tuple[BillingReport, Path]:
    """The completed report a signed link opens, and its file. The signature is checked
    before anything is looked up: a bad link says nothing of whether the report exists."""
    refused = DownloadRefused("The download link is invalid or has expired")
    try:
        signed_for = await read_link_token(session, token or "", DOWNLOAD_PURPOSE, DOWNLOAD_KEY)
    except LinkRefused:
        raise refused from None
    if report_ref is None or signed_for != report_ref:
        raise refused
    from partnerhub.billing.repository import load_report

    report = await load_report(session, report_ref)
    path = file_path(report_ref)
    if report is None or report.status != COMPLETED or not path.exists():
        raise NotFound("Billing report not found")
    return report, path


async def customer_usage(
    repo: BillingRepository, customer_id: uuid.UUID, day: date | None = None
) -> list[UsageRow]:
    """A customer's packages × billable days this month (to ``day``, today by default)."""
    repo.principal.require(READ, "spark-admin:wholesale_customers_read")
    day = day or today()
    return await repo.customer_usage(customer_id, day.replace(day=1), day)
