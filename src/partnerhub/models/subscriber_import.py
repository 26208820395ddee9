"""Bulk imports of subscribers from CSV: one row per import.

The CSV is kept (``source``) so that the background job can run it; ``result`` is the
downloadable result CSV once the import has finished. ``status``: ``queued`` → ``running``
→ ``succeeded`` | ``failed`` (all-or-nothing: a failed import created nothing).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class SubscriberImport(IdMixin, Base):
    __tablename__ = "subscriber_imports"
    __table_args__ = (Index("ix_subscriber_imports_customer_created", "customer_id", "created"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    existing_count: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    finished: Mapped[datetime | None] = mapped_column()
