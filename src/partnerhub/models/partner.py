"""Partner organizations (service providers), optionally the sub-partner of a parent."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, TimestampMixin


class Partner(IdMixin, TimestampMixin, Base):
    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partners.id", ondelete="RESTRICT"), index=True
    )
    # active | suspended (a suspended sub-partner may only delete)
    provisioning_state: Mapped[str] = mapped_column(String(20), default="active")
    subscription_id: Mapped[str | None] = mapped_column(String(100))
    # Partner settings:
    # {"pstnProviders": [...], "offers": {"wholesale": bool, "hostedCalling": bool}}
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
