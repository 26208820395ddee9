"""Outgoing emails (transactional outbox).

Every email is first written here, in the same transaction as the change that causes it;
``dedupe_key`` (e.g. ``customer:<id>:admin_invite``) makes writing it idempotent. A job then
delivers it through SMTP when configured (``status`` ``sent``); without SMTP it stays here
(``status`` ``stored``) and the portal's outbox page shows it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class OutboxEmail(IdMixin, Base):
    __tablename__ = "outbox_emails"
    __table_args__ = (Index("ix_outbox_emails_partner_created", "partner_id", "created", "id"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    # No foreign key: the mail stays visible after its customer is deleted.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(320))
    from_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(10))
    # pending (to deliver) | sent | stored (no SMTP configured) | failed
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    sent: Mapped[datetime | None] = mapped_column()
