"""The one event stream: a row per change of a hub resource (migration 0013, docs/events.md).

Written only by the database's own triggers on the resources' tables, in the transaction of
the change; ``event_commits`` numbers the committing transactions in commit order (the feed's
cursor). No foreign keys: the history outlives what it describes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_txid", "txid"),
        Index("ix_events_created", "created"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id())::text::bigint")
    )
    resource: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[uuid.UUID] = mapped_column()
    partner_id: Mapped[uuid.UUID] = mapped_column()
    parent_partner_id: Mapped[uuid.UUID | None] = mapped_column()
    customer_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_id: Mapped[str | None] = mapped_column(String(64))
    tracking_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created: Mapped[datetime] = mapped_column(server_default=func.now())


class EventCommit(Base):
    __tablename__ = "event_commits"

    position: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, unique=True)
    committed: Mapped[datetime] = mapped_column(server_default=func.now())
