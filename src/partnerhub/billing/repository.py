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

from psycopg.types.json import Jsonb
from sqlalchemy import Select, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.kit.rows import columns, row_values
from partnerhub.models import AuditEvent, BillingReport, Partner

IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"
ACTIVE_CONSTRAINT = "uq_billing_reports_active"
RENDER_TASK = "billing.render"
RENDER_QUEUE = "billing"


def job_lock(report_id: uuid.UUID | str) -> str:
    """The render job's lock and queueing lock: one job per report at a time."""
    return f"billing-report:{report_id}"


# What a new report's rules read, in one round trip: the person behind an API token (the
# report's ``createdBy``) and whether the sub-partner named is a direct sub-partner.
_NEW_REPORT_FACTS = text(
    "SELECT (SELECT t.created_by FROM api_tokens AS t WHERE t.id = CAST(:token AS uuid)),"
    " EXISTS (SELECT 1 FROM partners AS p"
    "         WHERE p.id = CAST(:sub AS uuid) AND p.parent_id = :pid)"
)

# The report and its render job in one statement of the request's transaction: the job exists
# exactly when the report does (no job lost between commit and defer, none left for a report
# rolled back). Another active report with the same key (``uq_billing_reports_active``)
# inserts nothing, and then no job is written and no row comes back.
_AUDIT_NAMES, _AUDIT_VALUES = columns(AuditEvent.__table__, "a_")  # type: ignore[arg-type]
# The report, its audit row (written only with the report: SELECT ... FROM new_report) and its
# render job, in one statement. Column names come from the metadata; values are parameters.
_NEW_REPORT = text(
    "WITH new_report AS ("  # noqa: S608
    " INSERT INTO billing_reports (id, partner_id, sub_partner_id, billing_start_date,"
    " billing_end_date, type, category, status, internal, created, created_by, errors)"
    " VALUES (:id, :partner_id, :sub_partner_id, :start, :end, :type, :category, :status,"
    " :internal, :created, :created_by, :errors)"
    " ON CONFLICT DO NOTHING RETURNING id),"
    f" new_audit AS (INSERT INTO audit_events ({_AUDIT_NAMES})"
    f" SELECT {_AUDIT_VALUES} FROM new_report)"
    " SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(CAST(:job_queue AS varchar),"
    " CAST(:job_task AS varchar), 0, CAST(:job_lock AS text), CAST(:job_lock AS text),"
    " CAST(:job_args AS jsonb), CAST(NULL AS timestamptz))::procrastinate_job_to_defer_v1])"
    " FROM new_report"
)


@dataclass(frozen=True)
class NewReportFacts:
    created_by: uuid.UUID | None
    sub_partner_ok: bool


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
    async def sub_partners(self, partner_ids: set[uuid.UUID]) -> dict[uuid.UUID, Partner]:
        if not partner_ids:
            return {}
        stmt = select(Partner).where(
            Partner.id.in_(partner_ids), Partner.parent_id == self.principal.partner_id
        )
        return {p.id: p for p in (await self.session.execute(stmt)).scalars()}

    async def new_report_facts(self, sub_partner_id: uuid.UUID | None) -> NewReportFacts:
        """The person behind the principal (the administrator, or the creator of the API
        token) and whether ``sub_partner_id`` is a direct sub-partner of the acting partner:
        one statement, none when there is nothing to look up."""
        actor = self.principal.actor_id
        token = actor if self.principal.kind == "token" else None
        if token is None and sub_partner_id is None:
            return NewReportFacts(created_by=actor, sub_partner_ok=False)
        row = (
            await self.session.execute(
                _NEW_REPORT_FACTS,
                {"token": token, "sub": sub_partner_id, "pid": self.principal.partner_id},
            )
        ).one()
        return NewReportFacts(
            created_by=row[0] if token is not None else actor, sub_partner_ok=bool(row[1])
        )

    async def add(self, report: BillingReport, audit_event: AuditEvent) -> bool:
        """Insert ``report`` with its audit row and its render job (:data:`_NEW_REPORT`);
        False, and nothing written, when another active report has the same partner, dates,
        type and sub-partner."""
        row = (
            await self.session.execute(
                _NEW_REPORT,
                {
                    "id": report.id,
                    "partner_id": report.partner_id,
                    "sub_partner_id": report.sub_partner_id,
                    "start": report.billing_start_date,
                    "end": report.billing_end_date,
                    "type": report.type,
                    "category": report.category,
                    "status": report.status,
                    "internal": report.internal,
                    "created": report.created,
                    "created_by": report.created_by,
                    "errors": Jsonb(report.errors or []),
                    "job_queue": RENDER_QUEUE,
                    "job_task": RENDER_TASK,
                    "job_lock": job_lock(report.id),
                    "job_args": Jsonb({"report_id": str(report.id)}),
                    **row_values("a_", audit_event),
                },
            )
        ).first()
        return row is not None

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
# and package: its days in the period. Only the USER report needs this (a line per subject):
# the other two count from the customers' groups directly (``_PER_CUSTOMER``). An interval
# that spans the whole period is its subject's only one for that package (intervals of one
# subject and package do not overlap), so it is a line as it stands, with every day of the
# period; only the few intervals that start or end inside the period are grouped per subject
# (a subject may hold a package in several of them). Sorted here, in memory, on these narrow
# rows, so the wide lines (encoded ids, e-mail) are never sorted (EXPLAIN ANALYZE with
# 1,000,000 subscribers: docs/performance.md).
_SUBJECTS = f"""
subjects AS MATERIALIZED (
    SELECT * FROM (
        SELECT l.partner_id, l.customer_id, l.subscriber_id, l.package, l.email,
               (%(e1)s AT TIME ZONE 'UTC')::date - (%(s)s AT TIME ZONE 'UTC')::date AS days
        FROM usage_ledger AS l
        WHERE l.partner_id = ANY(%(partners)s) AND l.valid_to >= %(e1)s AND l.valid_from <= %(s)s
        UNION ALL
        SELECT l.partner_id, l.customer_id, l.subscriber_id, l.package,
               max(l.email) AS email, sum({_DAYS}) AS days
        FROM usage_ledger AS l
        WHERE l.partner_id = ANY(%(partners)s) AND l.valid_to > %(s)s AND l.valid_from < %(e1)s
          AND (l.valid_from > %(s)s OR l.valid_to < %(e1)s)
        GROUP BY l.customer_id, l.subscriber_id, l.package, l.partner_id
        HAVING sum({_DAYS}) > 0
    ) AS lines
    ORDER BY customer_id, subscriber_id NULLS FIRST, package
)"""  # noqa: S608

_CUSTOMER_IDS = """
customer_ids AS (  -- the customers' ids, encoded once per customer rather than once per line
    SELECT c.customer_id, c.external_id, coalesce(c.subscription_id, p.subscription_id) AS sub,
           lower(coalesce(c.data_region, 'us')) AS region,
           partnerhub_id('CUSTOMER', c.customer_id, lower(coalesce(c.data_region, 'us'))) AS cid,
           partnerhub_id('ORGANIZATION', c.org_id, lower(coalesce(c.data_region, 'us'))) AS oid
    FROM usage_customers AS c JOIN partners AS p ON p.id = c.partner_id
    WHERE c.partner_id = ANY(%(partners)s)
)"""

# Per customer, package and assignment (``org``: the customer's own package): how many
# subjects held it for at least one billable day (``quantity``) and their days, aggregated
# straight from the ledger's intervals, without a group per subject (a million subscribers
# made a million groups: docs/performance.md). A subject is counted once per package although
# it may hold the package in several intervals of the period; such intervals never span the
# whole period (intervals of one subject and package do not overlap), so the repeats are
# found among the intervals that start or end inside the period alone (``repeats``: a few
# per cent of the rows, read through the partition of closed intervals and the index on
# ``valid_from``), and subtracted.
_PER_CUSTOMER = f"""
intervals AS (
    SELECT l.partner_id, l.customer_id, l.package, l.subscriber_id IS NULL AS org,
           {_DAYS} AS days
    FROM usage_ledger AS l
    WHERE l.partner_id = ANY(%(partners)s) AND l.valid_to > %(s)s AND l.valid_from < %(e1)s
),
counted AS (
    SELECT partner_id, customer_id, package, org,
           count(*) FILTER (WHERE days > 0) AS held, sum(days) AS days
    FROM intervals GROUP BY partner_id, customer_id, package, org
),
partial AS (  -- intervals that do not span the period, with billable days
    SELECT l.partner_id, l.customer_id, l.package, l.subscriber_id IS NULL AS org,
           coalesce(l.subscriber_id, l.customer_id) AS subject
    FROM usage_ledger AS l
    WHERE l.partner_id = ANY(%(partners)s) AND l.valid_to > %(s)s AND l.valid_to < %(e1)s
      AND {_DAYS} > 0
    UNION ALL
    SELECT l.partner_id, l.customer_id, l.package, l.subscriber_id IS NULL AS org,
           coalesce(l.subscriber_id, l.customer_id) AS subject
    FROM usage_ledger AS l
    WHERE l.partner_id = ANY(%(partners)s) AND l.valid_to >= %(e1)s
      AND l.valid_from > %(s)s AND l.valid_from < %(e1)s AND {_DAYS} > 0
),
repeats AS (
    SELECT partner_id, customer_id, package, org, count(*) - count(DISTINCT subject) AS extra
    FROM partial GROUP BY partner_id, customer_id, package, org
    HAVING count(*) > count(DISTINCT subject)
),
per_customer AS (
    SELECT n.partner_id, n.customer_id, n.package, n.org,
           n.held - coalesce(r.extra, 0) AS quantity, n.days
    FROM counted AS n
    LEFT JOIN repeats AS r ON r.partner_id = n.partner_id AND r.customer_id = n.customer_id
         AND r.package = n.package AND r.org = n.org
    WHERE n.days > 0
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
WITH {_SUBJECTS},
{_CUSTOMER_IDS}
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
WITH {_PER_CUSTOMER},
{_CUSTOMER_IDS}
{_HEAD}
       c.sub AS subscription_id, c.cid AS customer_id, c.oid AS customer_org_id,
       c.external_id AS customer_external_id,
       NULL AS subscriber_id, NULL AS subscriber_email, g.package,
       CASE WHEN g.org THEN 'CUSTOMER' ELSE 'SUBSCRIBER' END AS assigned_to,
       g.quantity, g.days AS usage_days
FROM per_customer AS g
LEFT JOIN customer_ids AS c ON c.customer_id = g.customer_id
ORDER BY c.external_id, g.customer_id, g.package, g.org DESC""",
    "PARTNER": f"""
WITH {_PER_CUSTOMER},
grouped AS (
    SELECT s.partner_id, coalesce(c.subscription_id, p.subscription_id) AS subscription_id,
           s.package, s.org, sum(s.quantity) AS quantity, sum(s.days) AS days
    FROM per_customer AS s
    LEFT JOIN usage_customers AS c ON c.customer_id = s.customer_id
    LEFT JOIN partners AS p ON p.id = s.partner_id
    GROUP BY s.partner_id, coalesce(c.subscription_id, p.subscription_id), s.package, s.org
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
