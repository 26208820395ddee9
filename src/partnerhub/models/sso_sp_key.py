"""The key pair PartnerHub signs SAML AuthnRequests with, one per partner (its SP metadata)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, utcnow


class SsoSpKey(Base):
    __tablename__ = "sso_sp_keys"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(default=utcnow)
