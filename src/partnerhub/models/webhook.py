"""Webhooks, their deliveries (one per webhook and event; the id is the ``webhook-id``
header, the same for every retry), the per-attempt log and the dispatcher's position in the
event stream (docs/events.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin


class Webhook(IdMixin, Base):
    __tablename__ = "webhooks"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    target_url: Mapped[str] = mapped_column(String(2048))
    resource: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(20))
    filter: Mapped[str | None] = mapped_column(String(1024))
    # The filter's parts (set with it, when the webhook is made), matched by the dispatcher.
    filter_customer_id: Mapped[uuid.UUID | None] = mapped_column()
    filter_status: Mapped[str | None] = mapped_column(String(200))
    filter_sub_partner_id: Mapped[uuid.UUID | None] = mapped_column()
    secret: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(10), server_default="active")
    owned_by: Mapped[str] = mapped_column(String(20), server_default="creator")
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created: Mapped[datetime] = mapped_column(server_default=func.now())
    # The stream position when it was made: it receives the events committed after it.
    start_position: Mapped[int] = mapped_column(BigInteger, server_default="0")
    failures: Mapped[int] = mapped_column(server_default="0")  # consecutive failed attempts
    lease_until: Mapped[datetime | None] = mapped_column()  # a sender is working on it
    deactivated: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
        Index(
            "ix_webhook_deliveries_pending",
            "webhook_id",
            "position",
            "event_id",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # None: a test event
    position: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt: Mapped[datetime] = mapped_column(server_default=func.now())
    created: Mapped[datetime] = mapped_column(server_default=func.now())
    finished: Mapped[datetime | None] = mapped_column()


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_webhook", "webhook_id", "id"),
        Index("ix_webhook_attempts_delivery", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[uuid.UUID] = mapped_column()
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    status_code: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(300))
    latency_ms: Mapped[int] = mapped_column()
    response_excerpt: Mapped[str | None] = mapped_column(String(500))


class WebhookDispatch(Base):
    __tablename__ = "webhook_dispatch"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)
