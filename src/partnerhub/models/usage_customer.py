"""What a billing report shows of a customer, kept after the customer is deleted.

Maintained by the ``customers`` triggers of migration 0012 (``removed`` is set when the
customer row goes).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base


class UsageCustomer(Base):
    __tablename__ = "usage_customers"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    external_id: Mapped[str] = mapped_column(String(256))
    org_id: Mapped[uuid.UUID | None] = mapped_column()
    data_region: Mapped[str | None] = mapped_column(String(4))
    subscription_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(256))
    removed: Mapped[datetime | None] = mapped_column()
