"""Server-wide secrets generated on first use (when ``PARTNERHUB_SECRET_KEY`` is not set).

Every process of one installation shares the same database, so a key kept here is the same for
all of them: it signs invitation and password-reset links and encrypts stored IdP secrets.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, utcnow


class ServerKey(Base):
    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)
