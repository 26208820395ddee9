"""SQL for the acting partner's own record and settings."""

from __future__ import annotations

from sqlalchemy import func, select

from partnerhub.kit.repository import Repository
from partnerhub.models import Partner, Template


class PartnerRepository(Repository):
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
