"""SQL for locations and the numbers each holds, always scoped to the acting partner.

One look-up is deliberately global: :meth:`LocationRepository.held_anywhere`, because a number
can be in one inventory only in the whole hub; it answers only *whether* a number is held,
never by whom.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
from sqlalchemy import ARRAY, Text, and_, any_, func, literal, or_, select, update

from partnerhub.db import carrying_context, transaction_context
from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, Location, OrgUser, PhoneNumber


@dataclass(frozen=True, slots=True)
class OrgCustomer:
    """The keys of a customer that the location rules and answers read (a :class:`Customer`
    has them too)."""

    id: uuid.UUID
    partner_id: uuid.UUID
    org_id: uuid.UUID | None
    status: str
    data_region: str


@dataclass(frozen=True, slots=True)
class NewLocationFacts:
    """What the rules for a new location read, from one statement
    (:meth:`LocationRepository.new_location_facts`)."""

    customer: OrgCustomer | None  # the acting partner's customer of the organization
    name_taken: bool  # a location of that customer has the name (case-insensitively)


@dataclass(slots=True)
class NewLocation:
    """A location row about to be written (or just written) by :meth:`insert`; the answer
    reads it as it reads a :class:`Location`."""

    id: uuid.UUID
    partner_id: uuid.UUID
    customer_id: uuid.UUID
    org_id: uuid.UUID
    name: str
    country: str
    time_zone: str
    preferred_language: str
    announcement_language: str | None
    address1: str
    address2: str | None
    city: str
    state: str | None
    postal_code: str | None
    headquarters: bool
    emergency_location_identifier: str | None
    created: datetime
    updated: datetime


class LocationRepository(Repository):
    async def customer(self, customer_id: uuid.UUID) -> Customer | None:
        stmt = self.scoped(select(Customer), Customer).where(Customer.id == customer_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def customer_by_org(self, org_id: uuid.UUID) -> Customer | None:
        stmt = self.scoped(select(Customer), Customer).where(Customer.org_id == org_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def customers(self, customer_ids: set[uuid.UUID]) -> dict[uuid.UUID, Customer]:
        if not customer_ids:
            return {}
        stmt = self.scoped(select(Customer), Customer).where(Customer.id.in_(customer_ids))
        return {c.id: c for c in (await self.session.execute(stmt)).scalars()}

    async def get(self, location_id: uuid.UUID, *, for_update: bool = False) -> Location | None:
        stmt = self.scoped(select(Location), Location).where(Location.id == location_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def recorded_or_headquarters(
        self, recorded_id: uuid.UUID | None, customer_id: uuid.UUID
    ) -> Location | None:
        """The location with the recorded id, else the customer's headquarters (one round
        trip for ``get`` then ``headquarters``)."""
        if recorded_id is None:
            return await self.headquarters(customer_id)
        is_recorded = Location.id == recorded_id
        stmt = (
            self.scoped(select(Location), Location)
            .where(
                or_(
                    is_recorded,
                    and_(Location.customer_id == customer_id, Location.headquarters.is_(True)),
                )
            )
            .order_by(is_recorded.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def headquarters(self, customer_id: uuid.UUID) -> Location | None:
        stmt = self.scoped(select(Location), Location).where(
            Location.customer_id == customer_id, Location.headquarters.is_(True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        customer_id: uuid.UUID | None,
        name: str | None,
        offset: int,
        limit: int,
    ) -> list[Location]:
        stmt = self.scoped(select(Location), Location)
        if customer_id is not None:
            stmt = stmt.where(Location.customer_id == customer_id)
        if name:
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Location.name.ilike(f"{escaped}%", escape="\\"))
        stmt = stmt.order_by(Location.created, Location.id).offset(offset).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def new_location_facts(self, org_id: uuid.UUID, name: str) -> NewLocationFacts:
        """The acting partner's customer of organization ``org_id`` and whether one of its
        locations is named ``name`` (case-insensitively), in one statement on the work's
        driver connection (no ORM; outside a transaction unless the work has begun one)."""
        async with self.work.driver() as conn:
            cur = await conn.execute(
                _NEW_LOCATION_FACTS,
                {"org": org_id, "pid": self.principal.partner_id, "name": name.lower()},
            )
            row = await cur.fetchone()
        if row is None:
            return NewLocationFacts(None, False)
        *keys, taken = row
        return NewLocationFacts(OrgCustomer(*keys), bool(taken))

    async def insert(self, location: NewLocation) -> psycopg.IntegrityError | None:
        """One new location in one INSERT on the work's driver connection (atomic on its own
        outside a transaction; inside the work's transaction when it has one). A violated
        constraint (a lost race) is returned for the caller to map; nothing was written (a
        transaction is then spoiled: the request rolls back)."""
        loc = location
        try:
            async with self.work.driver() as conn:
                await conn.execute(
                    _INSERT_LOCATION,
                    (
                        loc.id,
                        loc.partner_id,
                        loc.customer_id,
                        loc.org_id,
                        loc.name,
                        loc.time_zone,
                        loc.preferred_language,
                        loc.announcement_language,
                        loc.address1,
                        loc.address2,
                        loc.city,
                        loc.state,
                        loc.postal_code,
                        loc.country,
                        loc.headquarters,
                        loc.emergency_location_identifier,
                        loc.created,
                        loc.updated,
                        *transaction_context(),
                    ),
                )
        except psycopg.IntegrityError as exc:
            return exc
        return None

    async def name_taken(
        self, customer_id: uuid.UUID, name: str, exclude: uuid.UUID | None = None
    ) -> bool:
        stmt = self.scoped(select(func.count(Location.id)), Location).where(
            Location.customer_id == customer_id, func.lower(Location.name) == name.lower()
        )
        if exclude is not None:
            stmt = stmt.where(Location.id != exclude)
        return bool((await self.session.execute(stmt)).scalar_one())

    async def main_numbers(self, location_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not location_ids:
            return {}
        stmt = select(PhoneNumber.location_id, PhoneNumber.phone_number).where(
            PhoneNumber.location_id.in_(location_ids), PhoneNumber.main.is_(True)
        )
        return {row.location_id: row.phone_number for row in await self.session.execute(stmt)}

    async def held_anywhere(self, numbers: list[str]) -> set[str]:
        """Which of ``numbers`` are in some inventory (any partner's)."""
        if not numbers:
            return set()
        stmt = select(PhoneNumber.phone_number).where(
            PhoneNumber.phone_number == any_(literal(numbers, ARRAY(Text())))
        )
        return set((await self.session.execute(stmt)).scalars())

    async def in_location(self, location_id: uuid.UUID, numbers: list[str]) -> list[PhoneNumber]:
        stmt = self.scoped(select(PhoneNumber), PhoneNumber).where(
            PhoneNumber.location_id == location_id, PhoneNumber.phone_number.in_(numbers)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def of_location(self, location_id: uuid.UUID) -> list[str]:
        stmt = self.scoped(select(PhoneNumber.phone_number), PhoneNumber).where(
            PhoneNumber.location_id == location_id
        )
        return list((await self.session.execute(stmt)).scalars())

    async def owners(self, numbers: list[str]) -> dict[str, OrgUser]:
        if not numbers:
            return {}
        stmt = self.scoped(select(OrgUser), OrgUser).where(OrgUser.phone_number.in_(numbers))
        return {u.phone_number: u for u in (await self.session.execute(stmt)).scalars() if u}

    async def set_main(self, location_id: uuid.UUID, number: str | None) -> None:
        await self.session.execute(
            update(PhoneNumber)
            .where(
                PhoneNumber.partner_id == self.principal.partner_id,
                PhoneNumber.location_id == location_id,
                PhoneNumber.main.is_(True),
            )
            .values(main=False)
        )
        if number is not None:
            await self.session.execute(
                update(PhoneNumber)
                .where(
                    PhoneNumber.partner_id == self.principal.partner_id,
                    PhoneNumber.location_id == location_id,
                    PhoneNumber.phone_number == number,
                )
                .values(main=True)
            )

    def add(self, location: Location) -> None:
        self.session.add(location)

    async def users_at(self, location_id: uuid.UUID) -> int:
        """How many users of the organization are in the location."""
        stmt = self.scoped(select(func.count(OrgUser.id)), OrgUser).where(
            OrgUser.location_id == location_id
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete(self, location: Location) -> None:
        """Delete the location; its phone numbers go with it (``ON DELETE CASCADE``)."""
        await self.session.delete(location)
        await self.session.flush()


_NEW_LOCATION_FACTS = """
SELECT c.id, c.partner_id, c.org_id, c.status, c.data_region,
       EXISTS (SELECT 1 FROM locations l
                WHERE l.partner_id = %(pid)s AND l.customer_id = c.id
                  AND lower(l.name) = CAST(%(name)s AS text))
FROM customers c WHERE c.org_id = %(org)s AND c.partner_id = %(pid)s
"""

_INSERT_LOCATION = f"""
INSERT INTO locations (id, partner_id, customer_id, org_id, name, time_zone, preferred_language,
                       announcement_language, address1, address2, city, state, postal_code,
                       country, headquarters, emergency_location_identifier, created, updated)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        -- updated; evaluating it also tells the event trigger who acts and for which request
        -- (the statement may run in autocommit: no BEGIN carries it)
        {carrying_context("%s")})
"""  # noqa: S608 - a fixed fragment, every value a parameter
