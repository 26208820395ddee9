"""SQL for the number inventory, always scoped to the acting partner.

The queries of one location's numbers (its main number, which numbers it holds, who owns
them, and the deliberately global ``held_anywhere``) are the location's
(:class:`partnerhub.locations.repository.LocationRepository`); the inventory's list, bulk
insert and delete are here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, or_, select

from partnerhub.kit.repository import Repository
from partnerhub.models import Location, OrgUser, PhoneNumber


@dataclass(frozen=True)
class NumberRow:
    number: PhoneNumber
    location_name: str
    owner: OrgUser | None


@dataclass(frozen=True)
class NumberFilters:
    customer_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    available: bool | None = None
    phone_number: str | None = None
    owner_name: str | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class NumberRepository(Repository):
    async def of_customer(self, customer_id: uuid.UUID, number: str) -> PhoneNumber | None:
        stmt = self.scoped(select(PhoneNumber), PhoneNumber).where(
            PhoneNumber.customer_id == customer_id, PhoneNumber.phone_number == number
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def insert_many(self, rows: list[dict[str, object]]) -> None:
        if rows:
            await self.session.execute(insert(PhoneNumber), rows)

    async def delete_many(self, location_id: uuid.UUID, numbers: list[str]) -> None:
        await self.session.execute(
            delete(PhoneNumber).where(
                PhoneNumber.partner_id == self.principal.partner_id,
                PhoneNumber.location_id == location_id,
                PhoneNumber.phone_number.in_(numbers),
            )
        )

    async def page(self, filters: NumberFilters, offset: int, limit: int) -> list[NumberRow]:
        columns: Any = select(PhoneNumber, Location.name, OrgUser)
        stmt = (
            self.scoped(columns, PhoneNumber)
            .join(Location, Location.id == PhoneNumber.location_id)
            .outerjoin(OrgUser, OrgUser.phone_number == PhoneNumber.phone_number)
        )
        if filters.customer_id is not None:
            stmt = stmt.where(PhoneNumber.customer_id == filters.customer_id)
        if filters.location_id is not None:
            stmt = stmt.where(PhoneNumber.location_id == filters.location_id)
        if filters.available is True:
            stmt = stmt.where(OrgUser.id.is_(None), PhoneNumber.main.is_(False))
        elif filters.available is False:
            stmt = stmt.where(or_(OrgUser.id.is_not(None), PhoneNumber.main.is_(True)))
        if filters.phone_number:
            stmt = stmt.where(
                PhoneNumber.phone_number.like(_like(filters.phone_number), escape="\\")
            )
        if filters.owner_name:
            full = func.concat_ws(" ", OrgUser.first_name, OrgUser.last_name)
            stmt = stmt.where(full.ilike(_like(filters.owner_name), escape="\\"))
        stmt = stmt.order_by(PhoneNumber.phone_number).offset(offset).limit(limit)
        return [
            NumberRow(number, name, owner)
            for number, name, owner in (await self.session.execute(stmt)).all()
        ]
