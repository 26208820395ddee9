"""SQL for locations and the numbers each holds, always scoped to the acting partner.

One look-up is deliberately global: :meth:`LocationRepository.held_anywhere`, because a number
can be in one inventory only in the whole hub; it answers only *whether* a number is held,
never by whom.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ARRAY, Text, and_, any_, func, literal, or_, select, update

from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, Location, OrgUser, PhoneNumber


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
