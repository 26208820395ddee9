"""Server-side portal sessions; the cookie holds a random token, the table its SHA-256."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, utcnow


class PortalSession(Base):
    __tablename__ = "portal_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    admin_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_admins.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(10), default="en")
    # Unfinished wizards, keyed by wizard name: multi-process safe, survives restarts.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
