"""Installation assistance requests: a partner asks its support team to help install a
customer. ``status``: ``submitted`` → ``in_progress`` → ``done`` (changed by a partner
administrator)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class InstallationRequest(IdMixin, Base):
    __tablename__ = "installation_requests"
    __table_args__ = (Index("ix_installation_requests_customer_created", "customer_id", "created"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    preferred_dates: Mapped[str | None] = mapped_column(Text)
    sites: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    created_by: Mapped[str | None] = mapped_column(String(320))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
