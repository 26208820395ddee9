"""Single-use links sent to a partner administrator by email: the invitation to set a first
password (an administrator a parent partner adds to its sub-partner has none).

The link carries a token signed with the server secret that names this row and its expiry; the
row records its use, so a second use is refused. The customer users' links are
``identity_links`` (their table has no partner administrator column).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class PartnerAdminLink(IdMixin, Base):
    __tablename__ = "partner_admin_links"

    purpose: Mapped[str] = mapped_column(String(20))  # invitation
    admin_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_admins.id", ondelete="CASCADE"), index=True
    )
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
    used: Mapped[datetime | None] = mapped_column()
