"""SQL for onboarding templates, always scoped to the acting partner."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, PartnerAdmin, Template


class TemplateRepository(Repository):
    async def page(self, offset: int = 0, limit: int = 100) -> list[Template]:
        stmt = (
            self.scoped(select(Template), Template)
            .order_by(Template.name, Template.id)
            .offset(offset)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def get(self, template_id: uuid.UUID) -> Template | None:
        stmt = self.scoped(select(Template), Template).where(Template.id == template_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_provisioning_id(self, provisioning_id: str) -> Template | None:
        stmt = self.scoped(select(Template), Template).where(
            Template.provisioning_id == provisioning_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def name_taken(self, name: str, exclude: uuid.UUID | None = None) -> bool:
        stmt = self.scoped(select(func.count(Template.id)), Template).where(
            func.lower(Template.name) == name.lower()
        )
        if exclude is not None:
            stmt = stmt.where(Template.id != exclude)
        return bool((await self.session.execute(stmt)).scalar_one())

    async def admin_emails(self, admin_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not admin_ids:
            return {}
        stmt = select(PartnerAdmin.id, PartnerAdmin.email).where(PartnerAdmin.id.in_(admin_ids))
        return {row.id: row.email for row in await self.session.execute(stmt)}

    async def usage_counts(self, template_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many customers were created from each template."""
        if not template_ids:
            return {}
        stmt = (
            select(Customer.template_id, func.count(Customer.id))
            .where(Customer.template_id.in_(template_ids))
            .group_by(Customer.template_id)
        )
        return {tid: int(n) for tid, n in await self.session.execute(stmt)}

    def add(self, template: Template) -> None:
        self.session.add(template)

    async def delete(self, template: Template) -> None:
        await self.session.delete(template)
