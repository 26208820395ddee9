"""SQL for subscribers (the users of customer organizations), scoped to the acting partner.

One look-up is deliberately global: :meth:`SubscriberRepository.users_with_email`, because an
email is unique across all organizations (CONTRACT: 409 ``10022``); its callers reveal only
whether the email is taken.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from sqlalchemy import ARRAY, Text, Uuid, any_, delete, func, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from partnerhub.catalog.customer_roles import FULL_ADMIN
from partnerhub.db import carrying_context, transaction_context
from partnerhub.identity.repository import other_family_claim
from partnerhub.kit.repository import Repository
from partnerhub.kit.validators import email_domain
from partnerhub.models import (
    Customer,
    CustomerEvent,
    Location,
    OrgUser,
    PhoneNumber,
    SubscriberImport,
)


@dataclass(frozen=True)
class EmailUser:
    """Who holds an email (any organization): enough to decide 409, 202 or "exists"."""

    id: uuid.UUID
    email: str
    partner_id: uuid.UUID
    customer_id: uuid.UUID
    roles: tuple[str, ...]
    status: str | None
    package: str | None


@dataclass(frozen=True)
class NumberFact:
    """A number of the customer's inventory and who holds it."""

    phone_number: str
    location_id: uuid.UUID
    main: bool
    owner_id: uuid.UUID | None


class SubscriberListing(Protocol):
    """What the subscribers list shows of a user (an :class:`OrgUser` is one too)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def customer_id(self) -> uuid.UUID: ...
    @property
    def email(self) -> str: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def package(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def phone_number(self) -> str | None: ...
    @property
    def extension(self) -> str | None: ...
    @property
    def location_id(self) -> uuid.UUID | None: ...
    @property
    def roles(self) -> list[str] | None: ...
    @property
    def created(self) -> datetime: ...
    @property
    def last_status_change(self) -> datetime: ...


LISTING_COLUMNS = (
    OrgUser.id,
    OrgUser.customer_id,
    OrgUser.email,
    OrgUser.first_name,
    OrgUser.last_name,
    OrgUser.package,
    OrgUser.status,
    OrgUser.phone_number,
    OrgUser.extension,
    OrgUser.location_id,
    OrgUser.roles,
    OrgUser.created,
    OrgUser.last_status_change,
)


@dataclass(frozen=True)
class SubscriberFilters:
    customer_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    external_customer_id: str | None = None
    email: str | None = None
    statuses: tuple[str, ...] = ()
    after: datetime | None = None
    last_status_change: datetime | None = None
    sort_by: str = "created"
    descending: bool = False
    search: str | None = None  # portal: part of the email or the name, any case


PENDING = "pending_user_migration"


@dataclass(frozen=True)
class CustomerKey:
    """What a subscriber's answer shows of its customer (a :class:`Customer` is one too)."""

    id: uuid.UUID
    data_region: str
    external_id: str


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """What the rules read of a customer, as the facts statement reads it (plain values: an
    ORM object costs more to build than the whole statement)."""

    id: uuid.UUID
    partner_id: uuid.UUID
    status: str
    org_id: uuid.UUID | None
    packages: list[str]
    provisioning_parameters: dict[str, Any]
    settings: dict[str, Any]
    data_region: str
    external_id: str


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """A location as the rules read it."""

    id: uuid.UUID
    name: str


@dataclass(slots=True)
class NewSubscriber:
    """A subscriber row about to be written (or just written) by :meth:`insert_user`."""

    id: uuid.UUID
    partner_id: uuid.UUID
    customer_id: uuid.UUID
    org_id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    roles: list[str]
    package: str | None
    location_id: uuid.UUID | None
    phone_number: str | None
    extension: str | None
    status: str | None
    created: datetime
    last_status_change: datetime


@dataclass(frozen=True)
class NewSubscriberFacts:
    """Every fact the rules for one new subscriber read, from one statement
    (:meth:`SubscriberRepository.new_subscriber_facts`)."""

    email: str  # the email asked about (lower-cased)
    package: str  # the package asked about
    customer: CustomerRow
    has_hq_record: bool  # provisioning recorded a headquarters (maybe not materialized yet)
    location: PlaceRow | None  # the one asked for, else the headquarters row
    email_users: list[EmailUser]
    identity_kind: str | None  # which kind of account holds the email (identity_emails)
    number: NumberFact | None  # the asked number in the customer's inventory
    extension_owner: uuid.UUID | None  # who holds the asked extension in ``location``
    # Another partner family's identity provider claims the email's domain (identity.repository)
    other_family_domain: bool


def _texts(values: list[str]) -> Any:
    """One array parameter (``= ANY(...)``) instead of thousands of ``IN`` placeholders."""
    return literal(values, ARRAY(Text()))


class SubscriberRepository(Repository):
    # --- customers and locations -------------------------------------------------------

    async def customer(self, customer_id: uuid.UUID, *, lock: bool = False) -> Customer | None:
        stmt = self.scoped(select(Customer), Customer).where(Customer.id == customer_id)
        if lock:
            stmt = stmt.with_for_update(read=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def customers(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Customer]:
        wanted = set(customer_ids)
        # Customers this request already loaded (through this scoped repository) need no
        # second round trip.
        known: dict[uuid.UUID, Customer] = {}
        loaded = self.session.sync_session.identity_map
        for customer_id in wanted:
            obj = loaded.get(identity_key(Customer, customer_id))
            if isinstance(obj, Customer) and obj.partner_id == self.principal.partner_id:
                known[customer_id] = obj
        wanted -= known.keys()
        if not wanted:
            return known
        stmt = self.scoped(select(Customer), Customer).where(Customer.id.in_(wanted))
        return known | {c.id: c for c in (await self.session.execute(stmt)).scalars()}

    async def location(self, customer_id: uuid.UUID, location_id: uuid.UUID) -> Location | None:
        stmt = self.scoped(select(Location), Location).where(
            Location.id == location_id, Location.customer_id == customer_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def headquarters(self, customer_id: uuid.UUID) -> Location | None:
        stmt = self.scoped(select(Location), Location).where(
            Location.customer_id == customer_id, Location.headquarters.is_(True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def locations_of(self, customer_id: uuid.UUID) -> list[Location]:
        stmt = self.scoped(select(Location), Location).where(Location.customer_id == customer_id)
        return list((await self.session.execute(stmt)).scalars())

    # --- facts for the rules --------------------------------------------------------------

    async def users_with_email(self, emails: Iterable[str]) -> list[EmailUser]:
        """Every user (any organization) whose email is one of ``emails`` (lower-cased)."""
        wanted = list({e.lower() for e in emails})
        out: list[EmailUser] = []
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            stmt = select(
                OrgUser.id,
                OrgUser.partner_id,
                OrgUser.customer_id,
                OrgUser.roles,
                OrgUser.status,
                OrgUser.package,
                func.lower(OrgUser.email).label("email"),
            ).where(func.lower(OrgUser.email) == any_(_texts(chunk)))
            for row in await self.session.execute(stmt):
                out.append(
                    EmailUser(
                        row.id,
                        row.email,
                        row.partner_id,
                        row.customer_id,
                        tuple(row.roles or ()),
                        row.status,
                        row.package,
                    )
                )
        return out

    async def number_facts(self, customer_id: uuid.UUID, numbers: list[str]) -> list[NumberFact]:
        out: list[NumberFact] = []
        for start in range(0, len(numbers), 5000):
            chunk = numbers[start : start + 5000]
            columns: Any = select(
                PhoneNumber.phone_number, PhoneNumber.location_id, PhoneNumber.main, OrgUser.id
            )
            stmt = (
                self.scoped(columns, PhoneNumber)
                .outerjoin(OrgUser, OrgUser.phone_number == PhoneNumber.phone_number)
                .where(
                    PhoneNumber.customer_id == customer_id,
                    PhoneNumber.phone_number == any_(_texts(chunk)),
                )
            )
            out += [NumberFact(*row) for row in await self.session.execute(stmt)]
        return out

    async def extension_owners(
        self, pairs: list[tuple[uuid.UUID, str]]
    ) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        out: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        for start in range(0, len(pairs), 5000):
            chunk = pairs[start : start + 5000]
            wanted = set(chunk)
            locations = sorted({loc for loc, _ in chunk}, key=str)
            stmt = select(OrgUser.location_id, OrgUser.extension, OrgUser.id).where(
                OrgUser.location_id == any_(literal(locations, ARRAY(Uuid()))),
                OrgUser.extension == any_(_texts(sorted({ext for _, ext in chunk}))),
            )
            for loc, ext, uid in await self.session.execute(stmt):
                if loc is not None and ext is not None and (loc, ext) in wanted:
                    out[(loc, ext)] = uid
        return out

    async def package_counts(self, customer_id: uuid.UUID) -> dict[str, int]:
        stmt = (
            select(OrgUser.package, func.count(OrgUser.id))
            .where(OrgUser.customer_id == customer_id, OrgUser.package.is_not(None))
            .group_by(OrgUser.package)
        )
        return {pkg: int(n) for pkg, n in await self.session.execute(stmt) if pkg is not None}

    async def lock_package(self, customer_id: uuid.UUID, package: str) -> None:
        """Serialize assignments of one limited package in one customer (limit races)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"package-limit:{customer_id}:{package}"},
        )

    async def new_subscriber_facts(
        self,
        customer_id: uuid.UUID,
        email: str,
        package: str,
        location_id: uuid.UUID | None,
        e164: str | None,
        extension: str | None,
    ) -> NewSubscriberFacts | None:
        """What the rules for a new subscriber read, in one statement (``None``: no such
        customer of this partner), on the work's driver connection (no ORM, and outside a
        transaction unless the work has begun one). Scoped to the partner like every query
        here; the email look-ups are global (:meth:`users_with_email`). A package the
        customer limits is counted afterwards, under its lock, in a transaction
        (:meth:`lock_package`, :meth:`package_counts`)."""
        async with self.work.driver() as conn:
            cur = await conn.execute(
                _NEW_SUBSCRIBER_FACTS,
                {
                    "cid": customer_id,
                    "pid": self.principal.partner_id,
                    "email": email.lower(),
                    "lid": location_id,
                    "e164": e164,
                    "ext": extension,
                    "domain": email_domain(email),
                },
            )
            row = await cur.fetchone()
        if row is None:
            return None
        (
            cid,
            partner_id,
            status,
            org_id,
            customer_packages,
            parameters,
            settings,
            data_region,
            external_id,
            has_hq_record,
            found_location,
            location_name,
            email_users,
            number_row,
            extension_owner,
            identity_kind,
            other_family_domain,
        ) = row
        customer = CustomerRow(
            cid,
            partner_id,
            status,
            org_id,
            customer_packages or [],
            parameters or {},
            settings or {},
            data_region,
            external_id,
        )
        location = PlaceRow(found_location, location_name) if found_location else None
        number = None
        if number_row is not None and e164 is not None:
            loc, main, owner = number_row
            number = NumberFact(
                e164, uuid.UUID(loc), bool(main), uuid.UUID(owner) if owner else None
            )
        users = [
            EmailUser(
                uuid.UUID(u[0]),
                email.lower(),
                uuid.UUID(u[1]),
                uuid.UUID(u[2]),
                tuple(u[3] or ()),
                u[4],
                u[5],
            )
            for u in email_users
        ]
        return NewSubscriberFacts(
            email=email.lower(),
            package=package,
            customer=customer,
            has_hq_record=has_hq_record,
            location=location,
            email_users=users,
            identity_kind=identity_kind,
            number=number,
            extension_owner=extension_owner,
            other_family_domain=bool(other_family_domain),
        )

    async def insert_user(self, user: NewSubscriber) -> psycopg.IntegrityError | None:
        """One new subscriber in one INSERT on the work's driver connection (atomic on its
        own outside a transaction; inside the work's transaction when it has one). A violated
        constraint (a lost race) is returned for the caller to map; nothing was written (a
        transaction is then spoiled: the request rolls back)."""
        try:
            async with self.work.driver() as conn:
                await conn.execute(
                    _INSERT_USER,
                    (
                        user.id,
                        user.partner_id,
                        user.customer_id,
                        user.org_id,
                        user.email,
                        user.first_name,
                        user.last_name,
                        list(user.roles or []),
                        user.package,
                        user.location_id,
                        user.phone_number,
                        user.extension,
                        user.status,
                        user.created,
                        user.last_status_change,
                        *transaction_context(),
                    ),
                )
        except psycopg.IntegrityError as exc:
            return exc
        return None

    # --- subscribers ----------------------------------------------------------------------

    async def get(self, user_id: uuid.UUID) -> OrgUser | None:
        stmt = self.scoped(select(OrgUser), OrgUser).where(OrgUser.id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def of_customer_by_email(
        self, customer_id: uuid.UUID, emails: list[str]
    ) -> list[OrgUser]:
        out: list[OrgUser] = []
        for start in range(0, len(emails), 5000):
            chunk = [e.lower() for e in emails[start : start + 5000]]
            stmt = self.scoped(select(OrgUser), OrgUser).where(
                OrgUser.customer_id == customer_id, func.lower(OrgUser.email) == any_(_texts(chunk))
            )
            out += list((await self.session.execute(stmt)).scalars())
        return out

    def _page_sql(
        self, f: SubscriberFilters, offset: int, limit: int
    ) -> tuple[str, dict[str, Any]]:
        """The page's statement (:data:`_PAGE`) with the fragments of the filters given (fixed
        text: no outside text reaches the statement) and its parameters."""
        params: dict[str, Any] = {"pid": self.principal.partner_id, "offset": offset}
        params["limit"] = limit
        fragments = []
        for name, fragment in _PAGE_FILTERS:
            value = getattr(f, name)
            if value is None or value == ():
                continue
            if name == "email":
                value = value.lower()
            elif name == "statuses":
                value = list(value)
                if "provisioned" in value:
                    # Rows written without a status (the first administrator) are provisioned.
                    fragment = _STATUSES_OR_NONE
            elif name == "search":
                value = "%" + re.sub(r"([\\%_])", r"\\\1", value) + "%"
            params[name] = value
            fragments.append(fragment)
        column = "last_status_change" if f.sort_by == "lastStatusChange" else "created"
        direction = " DESC" if f.descending else ""
        order = f"{column}{direction}, id{direction}"
        return _PAGE.format(filters="".join(fragments), order=order), params

    async def page(self, f: SubscriberFilters, offset: int, limit: int) -> list[OrgUser]:
        """The page as ORM objects (the customer portal): :meth:`listing`'s page, then its
        rows loaded by id."""
        sql, params = self._page_sql(f, offset, limit)
        async with self.work.driver() as conn:
            ids = [row[0] for row in await (await conn.execute(sql, params)).fetchall()]
        if not ids:
            return []
        stmt = self.scoped(select(OrgUser), OrgUser).where(OrgUser.id.in_(ids))
        found = {u.id: u for u in (await self.session.execute(stmt)).scalars()}
        return [found[i] for i in ids if i in found]

    async def listing(
        self, f: SubscriberFilters, offset: int, limit: int
    ) -> list[tuple[SubscriberListing, CustomerKey]]:
        """Like :meth:`page`, as plain rows of the columns the API list shows, each with what
        its answer shows of its customer. Two plain statements on one connection of the work
        (autocommit unless the work has a transaction): the page on its own
        (``ix_org_users_customer_created``), then the keys of the page's customers. (One
        statement joining the page, chosen in a subquery, to its customers measured four
        times slower with 1,000,000 subscribers: docs/performance.md.)"""
        sql, params = self._page_sql(f, offset, limit)
        async with self.work.driver() as conn:
            cur = conn.cursor(row_factory=_listed_row)
            rows = await (await cur.execute(sql, params)).fetchall()
            keys: dict[uuid.UUID, CustomerKey] = {}
            if rows:
                wanted = list({row.customer_id for row in rows})
                found = await conn.execute(_CUSTOMER_KEYS, (self.principal.partner_id, wanted))
                keys = {r[0]: CustomerKey(*r) for r in await found.fetchall()}
        return [(row, keys[row.customer_id]) for row in rows]

    async def shown(self, user_id: uuid.UUID) -> tuple[SubscriberListing, CustomerKey] | None:
        """One subscriber as the API shows it, with its customer's keys: one statement, on the
        work's driver connection (no transaction of its own)."""
        async with self.work.driver() as conn:
            cur = await conn.execute(_SHOWN, (user_id, self.principal.partner_id))
            row = await cur.fetchone()
        if row is None:
            return None
        width = len(LISTING_COLUMNS)
        found = ShownRow(*row[:width])
        return found, CustomerKey(found.customer_id, row[width], row[width + 1])

    async def administrators(
        self, customer_id: uuid.UUID, offset: int, limit: int
    ) -> list[OrgUser]:
        stmt = (
            self.scoped(select(OrgUser), OrgUser)
            .where(OrgUser.customer_id == customer_id, func.cardinality(OrgUser.roles) > 0)
            .order_by(OrgUser.created, OrgUser.id)
            .offset(offset)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def by_consent_hash(self, token_hash: bytes) -> OrgUser | None:
        """Unscoped: the consent link is the credential (a 256-bit random token)."""
        stmt = select(OrgUser).where(
            OrgUser.consent_token_hash == token_hash, OrgUser.status == PENDING
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def other_holder(self, user: OrgUser) -> OrgUser | None:
        """Unscoped: the settled user holding a pending subscriber's email elsewhere."""
        stmt = select(OrgUser).where(
            func.lower(OrgUser.email) == user.email.lower(),
            OrgUser.id != user.id,
            OrgUser.status.is_distinct_from(PENDING),
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def add_event(self, event: CustomerEvent) -> None:
        """An entry in a customer's history (the consent move writes the losing side's)."""
        self.session.add(event)

    async def lock_full_admins(self, customer_id: uuid.UUID) -> None:
        """Serialize the changes that may take a customer's last full administrator away."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"full-admins:{customer_id}"},
        )

    async def other_full_admins(self, customer_id: uuid.UUID, user_id: uuid.UUID) -> int:
        """How many users of the customer other than *user_id* are full administrators."""
        stmt = self.scoped(select(func.count(OrgUser.id)), OrgUser).where(
            OrgUser.customer_id == customer_id,
            OrgUser.id != user_id,
            literal(FULL_ADMIN) == any_(OrgUser.roles),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_user(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(OrgUser).where(OrgUser.id == user_id))

    def add(self, user: OrgUser) -> None:
        self.session.add(user)

    async def flush(self) -> IntegrityError | None:
        """Flush; an integrity error is returned (for the caller to map), others raise."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            return exc
        return None

    # --- imports --------------------------------------------------------------------------

    async def get_import(
        self, customer_id: uuid.UUID, import_id: uuid.UUID
    ) -> SubscriberImport | None:
        stmt = self.scoped(select(SubscriberImport), SubscriberImport).where(
            SubscriberImport.id == import_id, SubscriberImport.customer_id == customer_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def imports(
        self, customer_id: uuid.UUID, offset: int, limit: int
    ) -> list[SubscriberImport]:
        stmt = (
            self.scoped(select(SubscriberImport), SubscriberImport)
            .where(SubscriberImport.customer_id == customer_id)
            .order_by(SubscriberImport.created.desc(), SubscriberImport.id)
            .offset(offset)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    # --- bulk import facts (subscribers.imports): one query per kind, keys as texts -------
    # Rows are read in batches (a server-side cursor) and equal values share one object
    # through ``same`` (a dict the caller keeps for the whole file): 100,000 users repeat
    # their customer, status, package, location, and appear in all three answers.

    async def _batches(self, statement: Any, params: dict[str, Any]) -> Any:
        result = await self.session.stream(statement, params)
        async for batch in result.partitions(5000):
            yield batch

    async def import_email_users(
        self, emails: list[str], same: dict[Any, Any] | None = None
    ) -> list[EmailUser]:
        """:meth:`users_with_email` for a whole file in one query (``emails`` lower-cased,
        valid addresses: no line breaks)."""
        one = (same if same is not None else {}).setdefault
        out: list[EmailUser] = []
        async for batch in self._batches(_IMPORT_EMAILS, {"emails": "\n".join(emails)}):
            out += [
                EmailUser(
                    one(r[0], r[0]),
                    r[1],
                    one(r[2], r[2]),
                    one(r[3], r[3]),
                    tuple(r[4] or ()),
                    one(r[5], r[5]),
                    one(r[6], r[6]),
                )
                for r in batch
            ]
        return out

    async def import_number_facts(
        self, customer_id: uuid.UUID, numbers: list[str], same: dict[Any, Any] | None = None
    ) -> list[NumberFact]:
        """:meth:`number_facts` for a whole file in one query (E.164 numbers)."""
        one = (same if same is not None else {}).setdefault
        params = {
            "partner": self.principal.partner_id,
            "customer": customer_id,
            "numbers": "\n".join(numbers),
        }
        out: list[NumberFact] = []
        async for batch in self._batches(_IMPORT_NUMBERS, params):
            out += [NumberFact(r[0], one(r[1], r[1]), r[2], one(r[3], r[3])) for r in batch]
        return out

    async def import_extension_owners(
        self, pairs: list[tuple[uuid.UUID, str]], same: dict[Any, Any] | None = None
    ) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        """:meth:`extension_owners` for a whole file in one query (exact pairs; extensions
        are digits)."""
        one = (same if same is not None else {}).setdefault
        params = {
            "locations": "\n".join(str(p[0]) for p in pairs),
            "extensions": "\n".join(p[1] for p in pairs),
        }
        out: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        async for batch in self._batches(_IMPORT_EXTENSIONS, params):
            for r in batch:
                out[(one(r[0], r[0]), r[1])] = one(r[2], r[2])
        return out


# The keys travel as one text each, split by the server (arrays of 100,000 values cost more
# to send element by element). An empty text splits into no keys.
_IMPORT_EMAILS = text(
    "SELECT u.id, lower(u.email), u.partner_id, u.customer_id, u.roles, u.status, u.package "
    "FROM org_users u "
    "WHERE lower(u.email) = ANY(string_to_array(NULLIF(:emails, ''), E'\\n'))"
)
_IMPORT_NUMBERS = text(
    "SELECT n.phone_number, n.location_id, n.main, u.id FROM phone_numbers n "
    "LEFT JOIN org_users u ON u.phone_number = n.phone_number "
    "WHERE n.partner_id = :partner AND n.customer_id = :customer "
    "AND n.phone_number = ANY(string_to_array(NULLIF(:numbers, ''), E'\\n'))"
)
_IMPORT_EXTENSIONS = text(
    "SELECT u.location_id, u.extension, u.id FROM org_users u "
    "JOIN unnest(string_to_array(NULLIF(:locations, ''), E'\\n')::uuid[], "
    "string_to_array(NULLIF(:extensions, ''), E'\\n')) AS k(location_id, extension) "
    "ON u.location_id = k.location_id AND u.extension = k.extension"
)


# Every fact of a new subscriber in one statement (psycopg's parameters: it runs on the driver
# connection): the customer (scoped to the partner), the location asked for or else the
# headquarters, the users (any organization) and the kind of account holding the email, the
# number with its holder, the extension's holder in that location, and whether another
# partner family's identity provider claims the email's domain.
_NEW_SUBSCRIBER_FACTS = f"""
WITH c AS (
    SELECT id, partner_id, status, org_id, packages, provisioning_parameters, settings,
           data_region, external_id, hq_location IS NOT NULL AS has_hq_record
    FROM customers WHERE id = %(cid)s AND partner_id = %(pid)s
), loc AS (
    SELECT l.id, l.name FROM locations l
    WHERE l.partner_id = %(pid)s AND l.customer_id = %(cid)s
      AND CASE WHEN CAST(%(lid)s AS uuid) IS NULL THEN l.headquarters
               ELSE l.id = CAST(%(lid)s AS uuid) END
    ORDER BY l.id LIMIT 1
)
SELECT c.id, c.partner_id, c.status, c.org_id, c.packages, c.provisioning_parameters,
       c.settings, c.data_region, c.external_id, c.has_hq_record,
       loc.id, loc.name,
       (SELECT coalesce(json_agg(json_build_array(u.id, u.partner_id, u.customer_id, u.roles,
                                                  u.status, u.package)), '[]')
          FROM org_users u WHERE lower(u.email) = CAST(%(email)s AS text)),
       (SELECT json_build_array(pn.location_id, pn.main, u.id)
          FROM phone_numbers pn LEFT JOIN org_users u ON u.phone_number = pn.phone_number
         WHERE pn.partner_id = %(pid)s AND pn.customer_id = %(cid)s
           AND pn.phone_number = CAST(%(e164)s AS text)
         LIMIT 1),
       (SELECT u.id FROM org_users u
         WHERE u.location_id = loc.id AND u.extension = CAST(%(ext)s AS text) LIMIT 1),
       (SELECT i.kind FROM identity_emails i WHERE i.email = CAST(%(email)s AS text)),
       {other_family_claim("CAST(%(domain)s AS text)", "c.partner_id")}
FROM c LEFT JOIN loc ON true
"""  # noqa: S608 - a fixed fragment, every value a parameter

_INSERT_USER = f"""
INSERT INTO org_users (id, partner_id, customer_id, org_id, email, first_name, last_name, roles,
                       package, location_id, phone_number, extension, status, created,
                       last_status_change)
VALUES (%s, %s, %s, %s, %s, %s, %s, CAST(%s AS text[]), %s, %s, %s, %s, %s, %s,
        -- last_status_change; evaluating it also tells the event trigger who acts and for
        -- which request (the statement may run in autocommit: no BEGIN carries it)
        {carrying_context("%s")})
"""  # noqa: S608 - a fixed fragment, every value a parameter

# One subscriber (the columns of LISTING_COLUMNS, in their order) with its customer's keys.
_SHOWN = """
SELECT u.id, u.customer_id, u.email, u.first_name, u.last_name, u.package, u.status,
       u.phone_number, u.extension, u.location_id, u.roles, u.created, u.last_status_change,
       c.data_region, c.external_id
FROM org_users u JOIN customers c ON c.id = u.customer_id
WHERE u.id = %s AND u.partner_id = %s
"""

# A page of the subscribers list (the columns of LISTING_COLUMNS, in their order); each filter
# adds a fixed fragment (SubscriberRepository._page_sql), so every combination keeps its own
# prepared plan.
_PAGE = """
SELECT id, customer_id, email, first_name, last_name, package, status, phone_number,
       extension, location_id, roles, created, last_status_change
FROM org_users WHERE partner_id = %(pid)s{filters}
ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s
"""
_PAGE_FILTERS = (
    ("customer_id", " AND customer_id = %(customer_id)s"),
    ("person_id", " AND id = %(person_id)s"),
    (
        "external_customer_id",
        " AND customer_id IN (SELECT id FROM customers"
        " WHERE partner_id = %(pid)s AND external_id = %(external_customer_id)s)",
    ),
    ("email", " AND lower(email) = %(email)s"),
    ("statuses", " AND status = ANY(%(statuses)s)"),
    ("after", " AND created > %(after)s"),
    ("last_status_change", " AND last_status_change > %(last_status_change)s"),
    (
        "search",
        " AND (email ILIKE %(search)s ESCAPE '\\'"
        " OR concat_ws(' ', first_name, last_name) ILIKE %(search)s ESCAPE '\\')",
    ),
)
_STATUSES_OR_NONE = " AND (status = ANY(%(statuses)s) OR status IS NULL)"
# What a subscriber's answer shows of its customers (the list's second statement).
_CUSTOMER_KEYS = (
    "SELECT id, data_region, external_id FROM customers WHERE partner_id = %s AND id = ANY(%s)"
)


@dataclass(frozen=True, slots=True)
class ShownRow:
    """A subscriber as :data:`_SHOWN` reads it (a :class:`SubscriberListing`)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    package: str | None
    status: str | None
    phone_number: str | None
    extension: str | None
    location_id: uuid.UUID | None
    roles: list[str] | None
    created: datetime
    last_status_change: datetime


def _listed_row(cursor: Any) -> Any:
    """psycopg row factory: each row of :data:`_PAGE` as a :class:`ShownRow`."""

    def make(values: Sequence[Any]) -> ShownRow:
        return ShownRow(*values)

    return make


__all__ = [
    "PENDING",
    "CustomerKey",
    "CustomerRow",
    "EmailUser",
    "NewSubscriber",
    "NewSubscriberFacts",
    "NumberFact",
    "PlaceRow",
    "SubscriberFilters",
    "SubscriberListing",
    "SubscriberRepository",
]
