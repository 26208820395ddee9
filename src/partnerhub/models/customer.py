"""Customer organizations provisioned from an onboarding template.

The ``settings`` column is the snapshot of the template taken at creation (authentication,
PSTN, calling and email settings): a later template edit never changes it.

``org_id`` is the customer's organization (unique: one organization per customer), set once
by provisioning. ``hq_location`` is the headquarters calling location provisioning recorded
(name, address, time zone, languages, numbers, main number); the locations domain turns it
into a real location. ``sip_domain`` is the organization's SIP domain.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, TimestampMixin, utcnow


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("partner_id", "external_id", name="uq_customers_partner_external_id"),
        Index("ix_customers_partner_created", "partner_id", "created", "id"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("templates.id", ondelete="RESTRICT"), index=True
    )
    provisioning_id: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str | None] = mapped_column(String(256))
    primary_email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(10))
    org_id: Mapped[uuid.UUID | None] = mapped_column(index=True, unique=True)
    status: Mapped[str] = mapped_column(String(30), default="provisioning", index=True)
    data_region: Mapped[str] = mapped_column(String(4))
    address: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    packages: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    provisioning_parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    resource_details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    sub_partner_admin_email: Mapped[str | None] = mapped_column(String(320))
    sip_domain: Mapped[str | None] = mapped_column(String(255))
    hq_location: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    last_status_change: Mapped[datetime] = mapped_column(default=utcnow)
