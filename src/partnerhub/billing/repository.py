"""All SQL of the billing reports: the reports (scoped to the acting partner), the ledger
queries that render a report's CSV, and a customer's usage this month.

The ledger itself (``usage_ledger``) is written only by the database's triggers (migration
0012); nothing here writes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, delete, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import ApiToken, BillingReport, Partner

IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"
ACTIVE_CONSTRAINT = "uq_billing_reports_active"


@dataclass(frozen=True)
class ReportFilters:
    billing_start_date: date | None = None
    billing_end_date: date | None = None
    type: str | None = None
    status: str | None = None
    sub_partner_id: uuid.UUID | None = None
    sort_by: str = "billingStartDate"
    newest_first: bool = False  # the portal's order


SORT_COLUMNS = {
    "id": BillingReport.id,
    "billingStartDate": BillingReport.billing_start_date,
    "billingEndDate": BillingReport.billing_end_date,
    "status": BillingReport.status,
}


class BillingRepository(Repository):
    async def sub_partner(self, partner_id: uuid.UUID) -> Partner | None:
        """A direct sub-partner of the acting partner (anything else: None)."""
        stmt = select(Partner).where(
            Partner.id == partner_id, Partner.parent_id == self.principal.partner_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def sub_partners(self, partner_ids: set[uuid.UUID]) -> dict[uuid.UUID, Partner]:
        if not partner_ids:
            return {}
        stmt = select(Partner).where(
            Partner.id.in_(partner_ids), Partner.parent_id == self.principal.partner_id
        )
        return {p.id: p for p in (await self.session.execute(stmt)).scalars()}

    async def creator(self) -> uuid.UUID | None:
        """The person behind the principal: the administrator, or the creator of the token."""
        actor = self.principal.actor_id
        if actor is None or self.principal.kind != "token":
            return actor
        stmt = select(ApiToken.created_by).where(ApiToken.id == actor)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, report: BillingReport) -> IntegrityError | None:
        """Insert ``report``; the integrity error (another active report) if refused."""
        self.session.add(report)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:  # the savepoint's rollback forgot the new row
            return exc
        return None

    async def get(self, report_id: uuid.UUID) -> BillingReport | None:
        stmt = self.scoped(select(BillingReport), BillingReport).where(
            BillingReport.id == report_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def _filtered(self, f: ReportFilters) -> Select[Any]:
        stmt = self.scoped(select(BillingReport), BillingReport)
        if f.billing_start_date is not None:
            stmt = stmt.where(BillingReport.billing_start_date == f.billing_start_date)
        if f.billing_end_date is not None:
            stmt = stmt.where(BillingReport.billing_end_date == f.billing_end_date)
        if f.type is not None:
            stmt = stmt.where(BillingReport.type == f.type)
        if f.status is not None:
            stmt = stmt.where(BillingReport.status == f.status)
        if f.sub_partner_id is not None:
            stmt = stmt.where(BillingReport.sub_partner_id == f.sub_partner_id)
        return stmt

    async def page(self, f: ReportFilters, offset: int, limit: int) -> list[BillingReport]:
        if f.newest_first:
            order: tuple[Any, ...] = (BillingReport.created.desc(), BillingReport.id.desc())
        else:
            column = SORT_COLUMNS[f.sort_by]
            order = (column, BillingReport.created, BillingReport.id)
        stmt = self._filtered(f).order_by(*order).offset(offset).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def remove(self, report: BillingReport) -> None:
        await self.session.execute(
            delete(BillingReport).where(
                BillingReport.id == report.id,
                BillingReport.partner_id == self.principal.partner_id,
            )
        )

    async def customer_usage(
        self, customer_id: uuid.UUID, start: date, end: date
    ) -> list[UsageRow]:
        """A customer's packages × billable days from ``start`` to ``end`` (inclusive),
        customer-level and summed over its subscribers."""
        rows = await self.session.execute(
            text(_CUSTOMER_USAGE),
            {"customer": customer_id, "partner": self.principal.partner_id, **bounds(start, end)},
        )
        return [UsageRow(*row) for row in rows]


@dataclass(frozen=True)
class UsageRow:
    package: str
    assigned_to: str  # CUSTOMER | SUBSCRIBER
    quantity: int
    usage_days: int


def bounds(start: date, end: date) -> dict[str, datetime]:
    """The instants of a billing period: from midnight UTC of ``start`` to midnight UTC after
    ``end``."""
    return {
        "s": datetime.combine(start, time(), UTC),
        "e1": datetime.combine(end + timedelta(days=1), time(), UTC),
    }


# Days an interval counts in [s, e1): the midnights (UTC) it holds the package across, i.e. the
# days at whose end the package is held. One package-day per day per subject, however often
# it changes during the day.
_DAYS = (
    "((least(l.valid_to, %(e1)s) AT TIME ZONE 'UTC')::date"
    " - (greatest(l.valid_from, %(s)s) AT TIME ZONE 'UTC')::date)"
)

_CUSTOMER_USAGE = """
SELECT package, CASE WHEN subscriber_id IS NULL THEN 'CUSTOMER' ELSE 'SUBSCRIBER' END,
       count(*)::int, sum(days)::int
FROM (
    SELECT l.subscriber_id, l.package, sum(DAYS) AS days
    FROM usage_ledger AS l
    WHERE l.customer_id = :customer AND l.partner_id = :partner
      AND l.valid_to > :s AND l.valid_from < :e1
    GROUP BY l.subscriber_id, l.package
    HAVING sum(DAYS) > 0
) AS subjects
GROUP BY package, subscriber_id IS NULL
ORDER BY package, subscriber_id IS NULL DESC
""".replace("DAYS", _DAYS.replace("%(e1)s", ":e1").replace("%(s)s", ":s"))


# --- rendering (the job; unscoped: the report row names its partner) ----------------------

CSV_VERSION = 1
COLUMNS = (
    "report_version",
    "billing_start_date",
    "billing_end_date",
    "partner_org_id",
    "sub_partner_org_id",
    "subscription_id",
    "customer_id",
    "customer_org_id",
    "customer_external_id",
    "subscriber_id",
    "subscriber_email",
    "package",
    "assigned_to",
    "quantity",
    "usage_days",
)


# Constants only; the values are parameters. One line per subject (customer or subscriber)
# and package: its days in the period (a subject may hold a package in several intervals).
def _subjects(email: bool) -> str:
    return f"""
subjects AS (
    SELECT l.partner_id, l.customer_id, l.subscriber_id, l.package,
           {"max(l.email)" if email else "NULL"} AS email, sum({_DAYS}) AS days
    FROM usage_ledger AS l
    WHERE l.partner_id = ANY(%(partners)s) AND l.valid_to > %(s)s AND l.valid_from < %(e1)s
    GROUP BY l.customer_id, l.subscriber_id, l.package, l.partner_id
    HAVING sum({_DAYS}) > 0
),
customer_ids AS (  -- the customers' ids, encoded once per customer rather than once per line
    SELECT c.customer_id, c.external_id, coalesce(c.subscription_id, p.subscription_id) AS sub,
           lower(coalesce(c.data_region, 'us')) AS region,
           partnerhub_id('CUSTOMER', c.customer_id, lower(coalesce(c.data_region, 'us'))) AS cid,
           partnerhub_id('ORGANIZATION', c.org_id, lower(coalesce(c.data_region, 'us'))) AS oid
    FROM usage_customers AS c JOIN partners AS p ON p.id = c.partner_id
    WHERE c.partner_id = ANY(%(partners)s)
)"""  # noqa: S608


_HEAD = f"""
SELECT {CSV_VERSION} AS report_version, %(start)s::date AS billing_start_date,
       %(end)s::date AS billing_end_date,
       partnerhub_id('ORGANIZATION', %(owner)s::uuid, 'us') AS partner_org_id,
       CASE WHEN g.partner_id <> %(owner)s::uuid
            THEN partnerhub_id('ORGANIZATION', g.partner_id, 'us') END AS sub_partner_org_id,"""

QUERIES = {
    # Built from constants only (no outside input): the values travel as parameters.
    "USER": f"""
WITH {_subjects(email=True)}
{_HEAD}
       c.sub AS subscription_id, c.cid AS customer_id, c.oid AS customer_org_id,
       c.external_id AS customer_external_id,
       partnerhub_id('SUBSCRIBER', g.subscriber_id, c.region) AS subscriber_id,
       g.email AS subscriber_email, g.package,
       CASE WHEN g.subscriber_id IS NULL THEN 'CUSTOMER' ELSE 'SUBSCRIBER' END AS assigned_to,
       1 AS quantity, g.days AS usage_days
FROM subjects AS g
LEFT JOIN customer_ids AS c ON c.customer_id = g.customer_id
ORDER BY g.customer_id, g.subscriber_id NULLS FIRST, g.package""",
    "CUSTOMER": f"""
WITH {_subjects(email=False)},
grouped AS (
    SELECT partner_id, customer_id, package, subscriber_id IS NULL AS org,
           count(*) AS quantity, sum(days) AS days
    FROM subjects GROUP BY partner_id, customer_id, package, subscriber_id IS NULL
)
{_HEAD}
       c.sub AS subscription_id, c.cid AS customer_id, c.oid AS customer_org_id,
       c.external_id AS customer_external_id,
       NULL AS subscriber_id, NULL AS subscriber_email, g.package,
       CASE WHEN g.org THEN 'CUSTOMER' ELSE 'SUBSCRIBER' END AS assigned_to,
       g.quantity, g.days AS usage_days
FROM grouped AS g
LEFT JOIN customer_ids AS c ON c.customer_id = g.customer_id
ORDER BY c.external_id, g.customer_id, g.package, g.org DESC""",  # noqa: S608
    "PARTNER": f"""
WITH {_subjects(email=False)},
per_customer AS (
    SELECT partner_id, customer_id, package, subscriber_id IS NULL AS org,
           count(*) AS quantity, sum(days) AS days
    FROM subjects GROUP BY partner_id, customer_id, package, subscriber_id IS NULL
),
grouped AS (
    SELECT s.partner_id, coalesce(c.sub, p.subscription_id) AS subscription_id, s.package, s.org,
           sum(s.quantity) AS quantity, sum(s.days) AS days
    FROM per_customer AS s
    LEFT JOIN customer_ids AS c ON c.customer_id = s.customer_id
    LEFT JOIN partners AS p ON p.id = s.partner_id
    GROUP BY s.partner_id, coalesce(c.sub, p.subscription_id), s.package, s.org
)
{_HEAD}
       g.subscription_id, NULL AS customer_id, NULL AS customer_org_id,
       NULL AS customer_external_id, NULL AS subscriber_id, NULL AS subscriber_email, g.package,
       CASE WHEN g.org THEN 'CUSTOMER' ELSE 'SUBSCRIBER' END AS assigned_to,
       g.quantity, g.days AS usage_days
FROM grouped AS g
ORDER BY g.partner_id <> %(owner)s::uuid, g.partner_id, g.subscription_id, g.package,
         g.org DESC""",  # noqa: S608
}


def report_period(report: BillingReport) -> tuple[date, date]:
    """The days a report counts: its dates (``POINT_IN_TIME``: the end date alone, i.e. what
    is held at the end of ``billingEndDate``)."""
    if report.category == "POINT_IN_TIME":
        return report.billing_end_date, report.billing_end_date
    return report.billing_start_date, report.billing_end_date


def copy_statement(report: BillingReport, partners: list[uuid.UUID]) -> tuple[str, dict[str, Any]]:
    """The ``COPY ... TO STDOUT`` statement that streams the report's CSV, and its values."""
    start, end = report_period(report)
    params: dict[str, Any] = {
        "partners": partners,
        "owner": report.partner_id,
        "start": report.billing_start_date,
        "end": report.billing_end_date,
        **bounds(start, end),
    }
    query = QUERIES[report.type]
    return f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", params


async def load_report(
    session: AsyncSession, report_id: uuid.UUID, *, lock: bool = False
) -> BillingReport | None:
    stmt = select(BillingReport).where(BillingReport.id == report_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def partners_of(session: AsyncSession, report: BillingReport) -> list[uuid.UUID]:
    """The partners whose customers the report covers: the sub-partner named, or the owner
    and its sub-partners."""
    if report.sub_partner_id is not None:
        return [report.sub_partner_id]
    stmt = select(Partner.id).where(
        or_(Partner.id == report.partner_id, Partner.parent_id == report.partner_id)
    )
    return list((await session.execute(stmt)).scalars())


_STUCK = text(
    """
    SELECT r.id FROM billing_reports r
    WHERE r.status = 'IN_PROGRESS' AND r.created < now() - make_interval(secs => :grace)
      AND NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs j
          WHERE j.queueing_lock = 'billing-report:' || r.id::text AND j.status = 'todo')
      AND NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs j
          WHERE j.lock = 'billing-report:' || r.id::text AND j.status = 'doing')
    ORDER BY r.created
    LIMIT :limit
    """
)


async def stuck_reports(session: AsyncSession, grace_seconds: float, limit: int) -> list[uuid.UUID]:
    """Reports in progress with no queued or running job (a crash between commit and defer)."""
    rows = await session.execute(_STUCK, {"grace": grace_seconds, "limit": limit})
    return [row[0] for row in rows]


async def add_ledger_years(session: AsyncSession, first: int, last: int) -> None:
    await session.execute(
        text("SELECT usage_ledger_add_years(:first, :last)"), {"first": first, "last": last}
    )
