"""SQL for wholesale customers, always scoped to the acting partner.

Three lookups are deliberately global (not scoped): whether an email already belongs to a user
of *any* organization or to a partner administrator (``identity_emails``), whether an
organization is already attached to *any* customer, and whether an identity provider of
another partner family claims an email's domain (``sso_domains``); all only answer yes/no.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.db import transaction_context
from partnerhub.identity.repository import other_family_claim
from partnerhub.kit.repository import Repository
from partnerhub.kit.rows import columns, dumps, row_values
from partnerhub.kit.validators import email_domain
from partnerhub.models import (
    AuditEvent,
    Customer,
    CustomerEvent,
    OrgUser,
    Template,
)
from partnerhub.models.base import utcnow


@dataclass
class CustomerFilters:
    external_id: str | None = None
    org_id: uuid.UUID | None = None
    statuses: list[str] = field(default_factory=list)
    search: str | None = None  # portal: name or external id, case-insensitive


class CustomerListing(Protocol):
    """What lists show of a customer (a :class:`Customer` is one too)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def org_id(self) -> uuid.UUID | None: ...
    @property
    def external_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def packages(self) -> list[str]: ...
    @property
    def resource_details(self) -> dict[str, Any]: ...
    @property
    def errors(self) -> list[dict[str, Any]]: ...
    @property
    def address(self) -> dict[str, Any]: ...
    @property
    def data_region(self) -> str: ...
    @property
    def provisioning_id(self) -> str: ...
    @property
    def created(self) -> datetime: ...
    @property
    def last_status_change(self) -> datetime: ...


# Plain rows, not ORM objects: a page of 100 customers loads several times faster.
LISTING_COLUMNS = (
    Customer.id,
    Customer.org_id,
    Customer.external_id,
    Customer.name,
    Customer.status,
    Customer.packages,
    Customer.resource_details,
    Customer.errors,
    Customer.address,
    Customer.data_region,
    Customer.provisioning_id,
    Customer.created,
    Customer.last_status_change,
)


# --- a new customer: its facts in one statement, its writes in one statement -------------

_TEMPLATE_FIELDS = tuple(
    (prop.key, prop.columns[0].name) for prop in Template.__mapper__.column_attrs
)
_NEW_CUSTOMER_FACTS = f"""
SELECT {", ".join(f"t.{name}" for _, name in _TEMPLATE_FIELDS)}, a.email,
       CAST(%(ext)s AS text) IS NOT NULL AND EXISTS (
           SELECT 1 FROM customers c WHERE c.partner_id = %(pid)s AND c.external_id = %(ext)s),
       CAST(%(org)s AS uuid) IS NOT NULL AND EXISTS (
           SELECT 1 FROM customers c WHERE c.org_id = %(org)s),
       CAST(%(email)s AS text) IS NOT NULL AND EXISTS (
           SELECT 1 FROM identity_emails i WHERE i.email = lower(%(email)s)),
       CAST(%(key)s AS text) IS NOT NULL AND EXISTS (
           SELECT 1 FROM idempotency_keys k WHERE k.partner_id = %(owner)s AND k.key = %(key)s),
       CAST(%(domain)s AS text) IS NOT NULL
           AND {other_family_claim("CAST(%(domain)s AS text)", "CAST(%(pid)s AS uuid)")}
FROM (SELECT 1) AS one
LEFT JOIN templates t ON t.partner_id = %(pid)s AND t.provisioning_id = %(prov)s
LEFT JOIN partner_admins a ON a.id = t.service_provider_admin_id
"""  # noqa: S608 - column names from the mapper, a fixed fragment


@dataclass(frozen=True)
class NewCustomerFacts:
    """What the rules of a new customer read (:meth:`CustomerRepository.new_customer_facts`):
    the acting partner's template with the provisioning ID (``None``: none), its
    service-provider administrator's email, whether the externalId (this partner), the
    organization (any customer) and the email (any user, or a partner administrator: one
    identity per address, identity.service.refuse_other_identity) are taken, whether the
    request's ``Idempotency-Key`` is known, and whether an identity provider of another
    partner family claims the email's domain (identity.service.refuse_domain_of_another_family).
    """

    template: Template | None
    admin_email: str | None
    conflicts: tuple[bool, bool, bool]
    key_known: bool
    other_family_domain: bool = False


@dataclass(frozen=True)
class RememberedAnswer:
    """An ``Idempotency-Key`` with the answer to replay (kit/idempotency.py), written with
    the customer."""

    key: str
    fingerprint: bytes
    status: int
    headers: dict[str, str]
    body: bytes
    ttl: timedelta


class ConstraintViolated(Exception):
    """A write refused by a constraint (a concurrent request won a race); names it."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint


# The provisioning job, written with the customer (procrastinate's own defer function, as
# ``tasks.enqueue`` calls it): tasks.py registers the task under these names.
PROVISION_TASK = "customers.provision"
PROVISION_QUEUE = "provisioning"


def job_lock(customer_id: uuid.UUID | str) -> str:
    """The job's lock and queueing lock: one job per customer at a time."""
    return f"customer:{customer_id}"


@functools.cache
def _new_customer_statement(provision: bool, remember: bool, audited: bool) -> str:
    """``INSERT`` customer, event [, idempotency key] [, audit row] as data-modifying CTEs of
    one statement
    whose ``SELECT`` [defers the provisioning job]. One statement, one round trip; every
    variant keeps its prepared plan."""
    customer_names, customer_values = columns(
        Customer.__table__,  # type: ignore[arg-type]
        "c_",
        driver=True,
        context="last_status_change",
    )
    event_names, event_values = columns(
        CustomerEvent.__table__,  # type: ignore[arg-type]
        "e_",
        driver=True,
    )
    # Column names come from the metadata; every value is a bound parameter.
    customer = f"INSERT INTO customers ({customer_names}) VALUES ({customer_values})"  # noqa: S608
    event = f"INSERT INTO customer_events ({event_names}) VALUES ({event_values})"  # noqa: S608
    parts = [f"WITH new_customer AS ({customer} RETURNING id), new_event AS ({event})"]
    if audited:
        # The audit row as one JSON parameter: the statement keeps under psycopg's 50
        # parameters, beyond which it parses the statement's placeholders again every time.
        names = ", ".join(c.name for c in AuditEvent.__table__.columns)
        parts.append(
            f", new_audit AS (INSERT INTO audit_events ({names}) SELECT {names}"  # noqa: S608
            " FROM jsonb_populate_record(CAST(NULL AS audit_events), %(audit)s))"
        )
    if remember:
        parts.append(
            ", new_key AS (INSERT INTO idempotency_keys (id, partner_id, key, fingerprint, "
            "status_code, headers, body, created, expires) VALUES (%(k_id)s, %(k_owner)s, "
            "%(k_key)s, %(k_fingerprint)s, %(k_status)s, %(k_headers)s, %(k_body)s, "
            "%(k_created)s, %(k_expires)s))"
        )
    if provision:
        parts.append(
            " SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(CAST(%(job_queue)s AS varchar), "
            "CAST(%(job_task)s AS varchar), 0, CAST(%(job_lock)s AS text), "
            "CAST(%(job_lock)s AS text), CAST(%(job_args)s AS jsonb), CAST(NULL AS timestamptz))"
            "::procrastinate_job_to_defer_v1]) FROM new_customer"
        )
    else:
        parts.append(" SELECT id FROM new_customer")
    return "".join(parts)


# The page is chosen on the narrow index ``ix_customers_partner_created`` (partner_id,
# created, id) first and only its rows are then read whole: the rows an offset skips are
# never fetched with their JSON columns. Each filter adds a fixed fragment (no outside text
# reaches the statement), so every combination keeps its own prepared plan.
#
# Profiled with 10,000 customers of one partner at offset 9,850 (EXPLAIN ANALYZE): the ORM
# query sorted every whole row (parallel seq scan, external sort on disk) in 28-34 ms; this
# statement walks the index in 1 ms once the table's visibility map is set (VACUUM), 6 ms
# when it is not (heap visibility checks). But when one partner owns most rows and the map
# is stale the planner prefers a seq scan of the whole table and a sort (11-15 ms, growing
# with the table's bloat), so the page is read with sequential and bitmap scans disabled for
# its transaction (:data:`_INDEX_SCANS`, ``set_config(..., true)`` is ``SET LOCAL``): index
# scans remain, on whichever index fits the filters. On an autocommit connection that
# transaction is the two statements' own, pipelined (BEGIN, the settings and the page go out
# together: two round trips with the COMMIT instead of four).
_PAGE = """
SELECT c.id, c.org_id, c.external_id, c.name, c.status, c.packages, c.resource_details,
       c.errors, c.address, c.data_region, c.provisioning_id, c.created, c.last_status_change
FROM (SELECT id, created FROM customers
      WHERE partner_id = %(pid)s{filters}
      ORDER BY created, id OFFSET %(offset)s LIMIT %(limit)s) AS page
JOIN customers c ON c.id = page.id AND c.partner_id = %(pid)s
ORDER BY page.created, page.id
"""
_INDEX_SCANS = (
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
)
_PAGE_FILTERS = (
    ("external_id", " AND external_id = %(external_id)s"),
    ("org_id", " AND org_id = %(org_id)s"),
    ("statuses", " AND status = ANY(%(statuses)s)"),
    (
        "search",
        " AND (name ILIKE %(search)s ESCAPE '\\' OR external_id ILIKE %(search)s ESCAPE '\\')",
    ),
)
# One customer as lists show it (what ``GET /v1/wholesale/customers/{id}`` answers).
_LISTED = """
SELECT id, org_id, external_id, name, status, packages, resource_details, errors, address,
       data_region, provisioning_id, created, last_status_change
FROM customers WHERE id = %s AND partner_id = %s
"""


@dataclass(frozen=True, slots=True)
class ListedRow:
    """A customer as :data:`_PAGE` and :data:`_LISTED` read it (a :class:`CustomerListing`)."""

    id: uuid.UUID
    org_id: uuid.UUID | None
    external_id: str
    name: str | None
    status: str
    packages: list[str]
    resource_details: dict[str, Any]
    errors: list[dict[str, Any]]
    address: dict[str, Any]
    data_region: str
    provisioning_id: str
    created: datetime
    last_status_change: datetime


def _listed_row(cursor: Any) -> Any:
    """psycopg row factory: each row as a :class:`ListedRow`."""

    def make(values: Sequence[Any]) -> ListedRow:
        return ListedRow(*values)

    return make


class CustomerRepository(Repository):
    async def page(
        self, filters: CustomerFilters, offset: int, limit: int
    ) -> list[CustomerListing]:
        """A page of customers (API and portal): only the columns lists show, scoped to the
        acting partner; two plain statements (:data:`_INDEX_SCANS`, :data:`_PAGE`) on the
        work's driver connection, in a transaction of their own when it is in autocommit."""
        params: dict[str, Any] = {
            "pid": self.principal.partner_id,
            "offset": offset,
            "limit": limit,
        }
        fragments = []
        for name, fragment in _PAGE_FILTERS:
            value = getattr(filters, name)
            if value:
                if name == "search":
                    value = (
                        "%"
                        + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                        + "%"
                    )
                params[name] = value
                fragments.append(fragment)
        sql = _PAGE.format(filters="".join(fragments))
        async with self.work.driver() as conn:
            cur = conn.cursor(row_factory=_listed_row)
            if not conn.autocommit:  # the work's transaction: the settings last until its end
                await conn.execute(_INDEX_SCANS)
                return list(await (await cur.execute(sql, params)).fetchall())
            async with conn.pipeline(), conn.transaction():
                await conn.execute(_INDEX_SCANS)
                await cur.execute(sql, params)
                return list(await cur.fetchall())

    async def listing(self, customer_id: uuid.UUID) -> CustomerListing | None:
        """One customer as lists show it (what ``GET`` answers): one plain statement on the
        work's driver connection, no ORM object."""
        async with self.work.driver() as conn:
            cur = conn.cursor(row_factory=_listed_row)
            await cur.execute(_LISTED, (customer_id, self.principal.partner_id))
            row: ListedRow | None = await cur.fetchone()
        return row

    async def holdings(self, customer: Customer) -> dict[str, int]:
        """What deleting ``customer`` takes with it: its users, locations and phone numbers
        (one statement; the customer was read through :meth:`scoped`, so it is the caller's)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT (SELECT count(*) FROM org_users WHERE customer_id = :c) AS users,"
                    " (SELECT count(*) FROM locations WHERE customer_id = :c) AS locations,"
                    " (SELECT count(*) FROM phone_numbers WHERE customer_id = :c) AS numbers"
                ),
                {"c": customer.id},
            )
        ).one()
        return {"users": row.users, "locations": row.locations, "numbers": row.numbers}

    async def count(self, filters: CustomerFilters) -> int:
        stmt = self.scoped(select(func.count(Customer.id)), Customer)
        if filters.statuses:
            stmt = stmt.where(Customer.status.in_(filters.statuses))
        return int((await self.session.execute(stmt)).scalar_one())

    async def get(self, customer_id: uuid.UUID, for_update: bool = False) -> Customer | None:
        stmt = self.scoped(select(Customer), Customer).where(Customer.id == customer_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def name_used(self, name: str) -> bool:
        """Whether another customer of this partner has the company name (ignoring case)."""
        stmt = self.scoped(select(func.count(Customer.id)), Customer).where(
            func.lower(Customer.name) == name.strip().lower()
        )
        return bool((await self.session.execute(stmt)).scalar_one())

    async def templates(self) -> list[Template]:
        stmt = self.scoped(select(Template), Template).order_by(Template.name)
        return list((await self.session.execute(stmt)).scalars())

    async def external_id_taken(self, external_id: str) -> bool:
        stmt = (
            self.scoped(select(Customer.id), Customer)
            .where(Customer.external_id == external_id)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def administrators(self, customer_id: uuid.UUID) -> list[OrgUser]:
        stmt = (
            self.scoped(select(OrgUser), OrgUser)
            .where(OrgUser.customer_id == customer_id)
            .order_by(OrgUser.created)
        )
        return [u for u in (await self.session.execute(stmt)).scalars() if "full_admin" in u.roles]

    async def events(self, customer_id: uuid.UUID, limit: int = 50) -> list[CustomerEvent]:
        stmt = (
            self.scoped(select(CustomerEvent), CustomerEvent)
            .where(CustomerEvent.customer_id == customer_id)
            .order_by(CustomerEvent.created.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    def add(self, customer: Customer) -> None:
        self.session.add(customer)

    def add_event(
        self, customer: Customer, kind: str, status: str | None, detail: dict[str, Any]
    ) -> None:
        self.session.add(
            CustomerEvent(
                id=uuid.uuid4(),
                partner_id=customer.partner_id,
                customer_id=customer.id,
                kind=kind,
                status=status,
                detail=detail,
                created=utcnow(),
            )
        )

    async def new_customer_facts(
        self,
        provisioning_id: str | None,
        external_id: str | None,
        org_id: uuid.UUID | None,
        email: str | None,
        idempotency_key: str | None = None,
    ) -> NewCustomerFacts:
        """Every fact the rules of a new customer read, in one statement
        (:data:`_NEW_CUSTOMER_FACTS`), on the work's driver connection (autocommit unless
        the work has begun a transaction)."""
        async with self.work.driver() as conn:
            cur = await conn.execute(
                _NEW_CUSTOMER_FACTS,
                {
                    "pid": self.principal.partner_id,
                    "owner": self.principal.home_partner_id,
                    "prov": provisioning_id,
                    "ext": external_id,
                    "org": org_id,
                    "email": email,
                    "key": idempotency_key,
                    "domain": email_domain(email) if email is not None else None,
                },
            )
            row = await cur.fetchone()
        assert row is not None  # FROM (SELECT 1): always one row
        n = len(_TEMPLATE_FIELDS)
        template = None
        if row[0] is not None:
            values = zip(_TEMPLATE_FIELDS, row[:n], strict=True)
            template = Template(**{attr: value for (attr, _), value in values})
        return NewCustomerFacts(
            template=template,
            admin_email=row[n],
            conflicts=(bool(row[n + 1]), bool(row[n + 2]), bool(row[n + 3])),
            key_known=bool(row[n + 4]),
            other_family_domain=bool(row[n + 5]),
        )

    async def insert_new(
        self,
        customer: Customer,
        event: CustomerEvent,
        *,
        provision: bool,
        remembered: RememberedAnswer | None = None,
        audit_event: AuditEvent | None = None,
    ) -> None:
        """Write a new customer, its first event, (``provision``) its provisioning job and
        (``remembered``) the ``Idempotency-Key`` with its answer, in one statement
        (:func:`_new_customer_statement`) on the work's driver connection: atomic on its own
        in autocommit, else in the work's transaction. A constraint the statement violates (a
        request that won a race) raises :class:`ConstraintViolated` naming it."""
        params = {
            **row_values("c_", customer),
            **row_values("e_", event),
            "job_queue": PROVISION_QUEUE,
            "job_task": PROVISION_TASK,
            "job_lock": job_lock(customer.id),
            "job_args": Jsonb({"customer_id": str(customer.id)}),
        }
        if remembered is not None:
            now = utcnow()
            params.update(
                k_id=uuid.uuid4(),
                k_owner=self.principal.home_partner_id,
                k_key=remembered.key,
                k_fingerprint=remembered.fingerprint,
                k_status=remembered.status,
                k_headers=Jsonb(remembered.headers),
                k_body=remembered.body,
                k_created=now,
                k_expires=now + remembered.ttl,
            )
        if audit_event is not None:
            params["audit"] = Jsonb(row_values("", audit_event, as_json=True), dumps=dumps)
        statement = _new_customer_statement(
            provision, remembered is not None, audit_event is not None
        )
        params["actor"], params["tracking_id"] = transaction_context()
        try:
            async with self.work.driver() as conn:
                await conn.execute(statement, params)
        except psycopg.IntegrityError as exc:
            raise ConstraintViolated(exc.diag.constraint_name) from None


# --- system look-ups of the provisioning machinery (no principal: jobs act for every partner)

_STUCK = text(
    """
    SELECT c.id FROM customers c
    WHERE c.status = ANY(:busy)
      AND c.last_status_change < now() - make_interval(secs => :grace)
      AND NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs j
          WHERE j.queueing_lock = 'customer:' || c.id::text AND j.status = 'todo')
      AND NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs j
          WHERE j.lock = 'customer:' || c.id::text AND j.status = 'doing')
    ORDER BY c.last_status_change
    LIMIT :limit
    """
)


async def stuck_customers(
    session: AsyncSession, busy: list[str], grace_seconds: float, limit: int
) -> list[uuid.UUID]:
    """Busy customers with no queued or running job, settled for ``grace_seconds``."""
    rows = await session.execute(_STUCK, {"busy": busy, "grace": grace_seconds, "limit": limit})
    return [row[0] for row in rows]


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    """The customer row, locked FOR UPDATE until the transaction ends."""
    stmt = select(Customer).where(Customer.id == customer_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_org_user_once(session: AsyncSession, **values: Any) -> uuid.UUID | None:
    """Insert an organization user unless the email is taken; its id, or None."""
    stmt = insert(OrgUser).values(**values).on_conflict_do_nothing().returning(OrgUser.id)
    return (await session.execute(stmt)).scalar_one_or_none()
