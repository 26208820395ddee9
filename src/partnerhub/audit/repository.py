"""SQL of the audit log: every read scoped to the acting partner (``Repository.scoped``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import ApiToken, AuditEvent, Customer, Partner


@dataclass
class AuditFilters:
    partner_level: bool = False  # the partner's own rows (no customer)
    customer_id: uuid.UUID | None = None
    start: datetime | None = None
    end: datetime | None = None
    categories: list[str] = field(default_factory=list)
    actor_id: uuid.UUID | None = None
    actor_text: str | None = None  # a part of the actor's name or e-mail


def _like(text_: str) -> str:
    return "%" + text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class AuditRepository(Repository):
    @staticmethod
    def add(session: AsyncSession, event: AuditEvent) -> None:
        session.add(event)

    def for_partner(self, partner_id: uuid.UUID) -> AuditRepository:
        """This repository's work seen as ``partner_id`` (a sub-partner :meth:`sub_partner`
        found): every later read is scoped to it."""
        return AuditRepository(self.work, self.principal.acting_for(partner_id))

    async def sub_partner(self, org_id: uuid.UUID) -> uuid.UUID | None:
        """``org_id`` when it is a direct sub-partner of the acting partner (never its parent,
        a sibling or another partner's)."""
        stmt = select(Partner.id).where(
            Partner.id == org_id, Partner.parent_id == self.principal.partner_id
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def sub_partner_of_customer_org(self, org_id: uuid.UUID) -> uuid.UUID | None:
        """The direct sub-partner of the acting partner one of whose customers has the
        organization (or, before provisioning, the id) ``org_id``."""
        stmt = (
            select(Customer.partner_id)
            .join(Partner, Partner.id == Customer.partner_id)
            .where(
                Partner.parent_id == self.principal.partner_id,
                or_(Customer.org_id == org_id, Customer.id == org_id),
            )
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def sub_partner_names(self) -> list[tuple[uuid.UUID, str]]:
        """The acting partner's direct sub-partners (the portal's choice of log), by name."""
        stmt = (
            select(Partner.id, Partner.name)
            .where(Partner.parent_id == self.principal.partner_id)
            .order_by(Partner.name, Partner.id)
        )
        return [(row.id, row.name) for row in await self.session.execute(stmt)]

    async def customer_of_org(self, org_id: uuid.UUID) -> uuid.UUID | None:
        """The acting partner's customer whose organization (or, before provisioning, whose
        own id) is ``org_id``."""
        stmt = self.scoped(select(Customer.id), Customer).where(
            or_(Customer.org_id == org_id, Customer.id == org_id)
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    def _filtered(self, filters: AuditFilters) -> Select[Any]:
        stmt = self.scoped(select(AuditEvent), AuditEvent)
        if filters.partner_level:
            stmt = stmt.where(
                AuditEvent.customer_id.is_(None), AuditEvent.org_id == self.principal.partner_id
            )
        else:
            stmt = stmt.where(AuditEvent.customer_id == filters.customer_id)
        if filters.start is not None:
            stmt = stmt.where(AuditEvent.created >= filters.start)
        if filters.end is not None:
            stmt = stmt.where(AuditEvent.created <= filters.end)
        if filters.categories:
            stmt = stmt.where(AuditEvent.category.in_(filters.categories))
        if filters.actor_id is not None:
            stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
        if filters.actor_text:
            pattern = _like(filters.actor_text)
            stmt = stmt.where(
                or_(
                    AuditEvent.actor_name.ilike(pattern, escape="\\"),
                    AuditEvent.actor_email.ilike(pattern, escape="\\"),
                )
            )
        return stmt

    async def page(self, filters: AuditFilters, offset: int, limit: int) -> list[AuditEvent]:
        """Newest first."""
        stmt = (
            self._filtered(filters)
            .order_by(AuditEvent.created.desc(), AuditEvent.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def token_names(self, token_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of the acting partner's tokens among ``token_ids`` (a token actor's name)."""
        if not token_ids:
            return {}
        names: Any = select(ApiToken.id, ApiToken.name)
        stmt = self.scoped(names, ApiToken).where(ApiToken.id.in_(token_ids))
        return {row.id: row.name for row in await self.session.execute(stmt)}

    async def customers(self, customer_ids: set[uuid.UUID]) -> dict[uuid.UUID, Customer]:
        """The acting partner's customers among ``customer_ids`` (a deleted one is missing)."""
        if not customer_ids:
            return {}
        stmt = self.scoped(select(Customer), Customer).where(Customer.id.in_(customer_ids))
        return {c.id: c for c in (await self.session.execute(stmt)).scalars()}

    async def partner_names(self, partner_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Names of the acting partner, its sub-partners and (reading a sub-partner's log) the
        parent whose credential reads, among ``partner_ids``."""
        mine = self.principal.partner_id
        wanted = {p for p in partner_ids if p is not None}
        if not wanted:
            return {}
        stmt = select(Partner.id, Partner.name).where(
            Partner.id.in_(wanted),
            or_(
                Partner.id == mine,
                Partner.parent_id == mine,
                Partner.id == self.principal.home_partner_id,
            ),
        )
        return {row.id: row.name for row in await self.session.execute(stmt)}

    async def count(self, filters: AuditFilters) -> int:
        stmt = self._filtered(filters).with_only_columns(func.count(AuditEvent.id))
        return int((await self.session.execute(stmt)).scalar_one())

    @staticmethod
    async def unattributed(
        session: AsyncSession, tenant: uuid.UUID, since: datetime, limit: int
    ) -> list[AuditEvent]:
        """The operator's reading of the log of no organization (``tenant``), newest first."""
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.partner_id == tenant, AuditEvent.created >= since)
            .order_by(AuditEvent.created.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
        return list((await session.execute(stmt)).scalars())

    @staticmethod
    async def purge(session: AsyncSession, before: datetime) -> int:
        """Delete every row older than ``before`` (all partners: the operator's purge), with
        the switch the immutability trigger lets through, for this transaction only."""
        await session.execute(text("SET LOCAL partnerhub.audit_purge = 'on'"))
        result = await session.execute(delete(AuditEvent).where(AuditEvent.created < before))
        await session.execute(text("SET LOCAL partnerhub.audit_purge = 'off'"))
        return int(getattr(result, "rowcount", 0) or 0)
