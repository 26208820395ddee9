"""Sessions of customer-organization users in the customer administrators' portal.

Kept apart from the partner portal's ``portal_sessions``: its own cookie, its own CSRF token,
and a principal that can only ever reach its own organization.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, utcnow


class OrgSession(Base):
    __tablename__ = "org_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    org_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(10), default="en")
    # True between a correct password and a correct TOTP code (second factor pending).
    second_factor_pending: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
