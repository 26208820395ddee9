"""Administrators of a partner organization (portal users)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, TimestampMixin


class PartnerAdmin(IdMixin, TimestampMixin, Base):
    __tablename__ = "partner_admins"
    __table_args__ = (Index("uq_partner_admins_email", text("lower(email)"), unique=True),)

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # full_admin | admin | read_only | sales  (catalog: identity.roles)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # the portal language the administrator chose (None: not chosen, the browser's is used)
    language: Mapped[str | None] = mapped_column(String(10), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    last_login: Mapped[datetime | None] = mapped_column()
