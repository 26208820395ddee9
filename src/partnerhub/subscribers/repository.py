"""SQL for subscribers (the users of customer organizations), scoped to the acting partner.

One look-up is deliberately global: :meth:`SubscriberRepository.users_with_email`, because an
email is unique across all organizations (CONTRACT: 409 ``10022``); its callers reveal only
whether the email is taken.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Select, Text, Uuid, any_, delete, func, literal, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, Location, OrgUser, PhoneNumber, SubscriberImport


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

    def _filtered(self, stmt: Select[OrgUser], f: SubscriberFilters) -> Select[OrgUser]:
        stmt = self.scoped(stmt, OrgUser)
        if f.customer_id is not None:
            stmt = stmt.where(OrgUser.customer_id == f.customer_id)
        if f.person_id is not None:
            stmt = stmt.where(OrgUser.id == f.person_id)
        if f.external_customer_id is not None:
            stmt = stmt.where(
                OrgUser.customer_id.in_(
                    self.scoped(select(Customer.id), Customer).where(
                        Customer.external_id == f.external_customer_id
                    )
                )
            )
        if f.email is not None:
            stmt = stmt.where(func.lower(OrgUser.email) == f.email.lower())
        if f.statuses:
            wants_provisioned = "provisioned" in f.statuses
            clauses = [OrgUser.status.in_(f.statuses)]
            if wants_provisioned:
                # Rows written without a status (the first administrator) are provisioned.
                clauses.append(OrgUser.status.is_(None))
            stmt = stmt.where(or_(*clauses))
        if f.after is not None:
            stmt = stmt.where(OrgUser.created > f.after)
        if f.last_status_change is not None:
            stmt = stmt.where(OrgUser.last_status_change > f.last_status_change)
        if f.search:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", f.search) + "%"
            full = func.concat_ws(" ", OrgUser.first_name, OrgUser.last_name)
            stmt = stmt.where(
                or_(
                    OrgUser.email.ilike(pattern, escape="\\"),
                    full.ilike(pattern, escape="\\"),
                )
            )
        return stmt

    async def page(self, f: SubscriberFilters, offset: int, limit: int) -> list[OrgUser]:
        column = OrgUser.last_status_change if f.sort_by == "lastStatusChange" else OrgUser.created
        order = (column.desc(), OrgUser.id.desc()) if f.descending else (column, OrgUser.id)
        stmt = self._filtered(select(OrgUser), f).order_by(*order).offset(offset).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

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


__all__ = [
    "PENDING",
    "EmailUser",
    "NumberFact",
    "SubscriberFilters",
    "SubscriberRepository",
]
