"""SQL for the customer administrators' portal, scoped to the organization's partner.

The principal is the one of the person acting in the organization (``OrgContext.principal``),
or of the partner administrator opening it (``PortalContext.principal``); either way its
``partner_id`` is the partner that owns the organization.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, CustomerEvent


class CustomerPortalRepository(Repository):
    async def customer(self, customer_id: uuid.UUID) -> Customer | None:
        """The acting partner's customer with this id; None for another partner's."""
        stmt = self.scoped(select(Customer), Customer).where(Customer.id == customer_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def add_event(self, event: CustomerEvent) -> None:
        self.session.add(event)
