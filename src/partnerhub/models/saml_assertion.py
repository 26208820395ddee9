"""SAML assertion IDs already accepted: a replayed assertion finds its ID here and is refused.

Rows are kept until the assertion itself would have expired, then purged.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, utcnow


class SamlAssertion(Base):
    __tablename__ = "saml_consumed_assertions"

    saml_idp_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saml_identity_providers.id", ondelete="CASCADE"), primary_key=True
    )
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    consumed: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
