"""The phone-number inventory of customer locations (E.164).

A number is in at most one inventory in the whole hub (``uq_phone_numbers_phone_number``)
and belongs to one location. Who owns it is recorded on the owner's side: ``org_users``
has ``(location_id, phone_number)`` referencing ``(location_id, phone_number)`` here and a
unique ``phone_number``, so the database itself guarantees that a number has at most one
owner and that an owner's number is in the owner's location. At most one number per
location is its main number (``main``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class PhoneNumber(IdMixin, Base):
    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("phone_number", name="uq_phone_numbers_phone_number"),
        UniqueConstraint("location_id", "phone_number", name="uq_phone_numbers_location_number"),
        Index(
            "uq_phone_numbers_location_main",
            "location_id",
            unique=True,
            postgresql_where=text("main"),
        ),
        Index("ix_phone_numbers_customer_number", "customer_id", "phone_number"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    phone_number: Mapped[str] = mapped_column(String(20))
    # DID | TOLLFREE
    number_type: Mapped[str] = mapped_column(String(10), default="DID")
    # ACTIVE | INACTIVE
    state: Mapped[str] = mapped_column(String(10), default="ACTIVE")
    main: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
