"""API bearer tokens: only a SHA-256 of the (high-entropy) secret is stored."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class ApiToken(IdMixin, Base):
    __tablename__ = "api_tokens"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    # The administrator who made it: the token acts with at most their current rights and dies
    # with them (identity.service.token_scopes). None: made by the operator (CLI).
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_admins.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime | None] = mapped_column()
    revoked: Mapped[datetime | None] = mapped_column()
    last_used: Mapped[datetime | None] = mapped_column()
