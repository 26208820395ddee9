"""People of customer organizations: the first full administrator, later the subscribers.

One table for every user of every customer organization (``email`` is unique across all
organizations, compared lower-cased). Provisioning creates the first full administrator
(``roles = ['full_admin']``, ``package`` = the organization's creation package); the
subscribers domain adds its users here too, using the nullable columns (``location_id``,
``phone_number``, ``extension``, ``status``, ``external_id``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class OrgUser(IdMixin, Base):
    __tablename__ = "org_users"
    __table_args__ = (
        # Unique across all organizations; a subscriber waiting for a user move
        # (status pending_user_migration) may share the email of the user to move.
        Index(
            "uq_org_users_email",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("status IS DISTINCT FROM 'pending_user_migration'"),
        ),
        # Added by the subscribers domain (migration 0004): the database guarantees that a
        # number has at most one owner, that the owner's number is in the inventory of the
        # owner's location, and that an extension is unique within a location.
        Index("uq_org_users_customer_email", "customer_id", text("lower(email)"), unique=True),
        # Look-ups by email across organizations (the partial unique index cannot serve them).
        Index("ix_org_users_email", text("lower(email)")),
        UniqueConstraint("phone_number", name="uq_org_users_phone_number"),
        UniqueConstraint("location_id", "extension", name="uq_org_users_location_extension"),
        ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name="fk_org_users_location_id_locations"
        ),
        ForeignKeyConstraint(
            ["location_id", "phone_number"],
            ["phone_numbers.location_id", "phone_numbers.phone_number"],
            name="fk_org_users_location_number_phone_numbers",
        ),
        Index("ix_org_users_customer_created", "customer_id", "created", "id"),
        Index("ix_org_users_partner_created", "partner_id", "created", "id"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(index=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    package: Mapped[str | None] = mapped_column(String(40))
    location_id: Mapped[uuid.UUID | None] = mapped_column()
    phone_number: Mapped[str | None] = mapped_column(String(40))
    extension: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(256))
    # the customer-portal language the user picked (None: not picked; migration 0016)
    language: Mapped[str | None] = mapped_column(String(10), default=None)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_change: Mapped[datetime] = mapped_column(default=utcnow)
    # Subscribers domain (0004): the user-move consent of a pending_user_migration subscriber.
    consent_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    consent_sent: Mapped[datetime | None] = mapped_column()
