"""SQL for partners. Sub-partners are the partners whose ``parent_id`` is the acting partner."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from partnerhub.kit.repository import Repository
from partnerhub.models import Partner, Template


class PartnerRepository(Repository):
    async def sub_partner(self, partner_id: uuid.UUID) -> Partner | None:
        """A direct sub-partner of the acting partner (None for anyone else)."""
        stmt = select(Partner).where(
            Partner.id == partner_id, Partner.parent_id == self.principal.partner_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def sub_partners(
        self, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[Partner]:
        stmt = select(Partner).where(Partner.parent_id == self.principal.partner_id)
        if state is not None:
            stmt = stmt.where(Partner.provisioning_state == state)
        stmt = stmt.order_by(Partner.created, Partner.id).offset(offset).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    # --- partner settings (PSTN providers, offers) ---------------------------------------

    async def current(self) -> Partner | None:
        return await self.session.get(Partner, self.principal.partner_id)

    async def templates_using_provider(self, provider: str) -> int:
        stmt = self.scoped(select(func.count(Template.id)), Template).where(
            Template.pstn_provider == provider
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def templates_with_platform_calling(self) -> int:
        stmt = self.scoped(select(func.count(Template.id)), Template).where(
            Template.allow_platform_calling.is_(True)
        )
        return int((await self.session.execute(stmt)).scalar_one())
