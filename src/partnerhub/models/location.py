"""Locations of customer organizations (the vendor's Locations API shape, CONTRACT section 7).

A location belongs to one customer organization. At most one location per customer is its
headquarters (``headquarters``), materialized from the HQ calling location that provisioning
recorded (:func:`partnerhub.locations.service.ensure_hq_location`). Names are unique per
organization, compared lower-cased.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, TimestampMixin


class Location(IdMixin, TimestampMixin, Base):
    __tablename__ = "locations"
    __table_args__ = (
        Index("uq_locations_customer_name", "customer_id", text("lower(name)"), unique=True),
        Index(
            "uq_locations_customer_headquarters",
            "customer_id",
            unique=True,
            postgresql_where=text("headquarters"),
        ),
        Index("ix_locations_partner_created", "partner_id", "created", "id"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(80))
    time_zone: Mapped[str] = mapped_column(String(64))
    preferred_language: Mapped[str] = mapped_column(String(10))
    announcement_language: Mapped[str | None] = mapped_column(String(10))
    address1: Mapped[str] = mapped_column(String(80))
    address2: Mapped[str | None] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(80))
    state: Mapped[str | None] = mapped_column(String(80))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    headquarters: Mapped[bool] = mapped_column(default=False)
    emergency_location_identifier: Mapped[str | None] = mapped_column(String(100))
