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

from sqlalchemy import ARRAY, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class OrgUser(IdMixin, Base):
    __tablename__ = "org_users"
    __table_args__ = (Index("uq_org_users_email", text("lower(email)"), unique=True),)

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
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_change: Mapped[datetime] = mapped_column(default=utcnow)
