"""SQL for the outbox, scoped to the acting partner."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import OutboxEmail


class OutboxRepository(Repository):
    async def page(
        self, offset: int = 0, limit: int = 50, search: str | None = None
    ) -> list[OutboxEmail]:
        stmt = self.scoped(select(OutboxEmail), OutboxEmail)
        if search:
            like = f"%{search.lower()}%"
            stmt = stmt.where(
                or_(
                    OutboxEmail.to_address.ilike(like),
                    OutboxEmail.subject.ilike(like),
                )
            )
        stmt = (
            stmt.order_by(OutboxEmail.created.desc(), OutboxEmail.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def get(self, email_id: uuid.UUID) -> OutboxEmail | None:
        stmt = self.scoped(select(OutboxEmail), OutboxEmail).where(OutboxEmail.id == email_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def for_customer(self, customer_id: uuid.UUID) -> list[OutboxEmail]:
        stmt = (
            self.scoped(select(OutboxEmail), OutboxEmail)
            .where(OutboxEmail.customer_id == customer_id)
            .order_by(OutboxEmail.created)
        )
        return list((await self.session.execute(stmt)).scalars())


async def pending_before(
    session: AsyncSession, before: datetime, limit: int = 500
) -> list[uuid.UUID]:
    """Ids of emails still ``pending`` that were written before ``before`` (any partner)."""
    stmt = (
        select(OutboxEmail.id)
        .where(OutboxEmail.status == "pending", OutboxEmail.created < before)
        .order_by(OutboxEmail.created)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def insert_once(session: AsyncSession, **values: Any) -> uuid.UUID | None:
    """Insert an outbox row unless its ``dedupe_key`` exists; its id, or None."""
    stmt = (
        insert(OutboxEmail)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxEmail.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_id(session: AsyncSession, email_id: uuid.UUID) -> OutboxEmail | None:
    """An outbox row of any partner (the delivery job's own look-up)."""
    return await session.get(OutboxEmail, email_id)


async def set_delivery(session: AsyncSession, email_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(OutboxEmail).where(OutboxEmail.id == email_id).values(**values))
