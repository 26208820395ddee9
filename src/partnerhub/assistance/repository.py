"""All SQL of installation assistance requests (scoped to the acting partner)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, InstallationRequest, Partner


class AssistanceRepository(Repository):
    async def customer(self, customer_id: uuid.UUID) -> Customer | None:
        stmt = self.scoped(select(Customer), Customer).where(Customer.id == customer_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def partner(self) -> Partner | None:
        return await self.session.get(Partner, self.principal.partner_id)

    def add(self, request: InstallationRequest) -> None:
        self.session.add(request)

    async def flush(self) -> None:
        await self.session.flush()

    async def for_customer(self, customer_id: uuid.UUID) -> list[InstallationRequest]:
        stmt = (
            self.scoped(select(InstallationRequest), InstallationRequest)
            .where(InstallationRequest.customer_id == customer_id)
            .order_by(InstallationRequest.created.desc(), InstallationRequest.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def get(
        self, customer_id: uuid.UUID, request_id: uuid.UUID, for_update: bool = False
    ) -> InstallationRequest | None:
        stmt = self.scoped(select(InstallationRequest), InstallationRequest).where(
            InstallationRequest.customer_id == customer_id, InstallationRequest.id == request_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()
