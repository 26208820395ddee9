"""Single-use links sent by email: the invitation to set a password, the password reset.

The link carries a token signed with the server secret that names this row and its expiry;
the row records its use, so a second use is refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class IdentityLink(IdMixin, Base):
    __tablename__ = "identity_links"

    purpose: Mapped[str] = mapped_column(String(20))  # invitation | password_reset
    org_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_users.id", ondelete="CASCADE"), index=True
    )
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
    used: Mapped[datetime | None] = mapped_column()
