"""The audit log (issue 13, item 5): one row per action of a partner administrator, an API
token or a customer administrator (sign-ins included), written in the transaction of the action.

Rows are never changed or deleted: migration 0014's trigger refuses ``UPDATE``, ``DELETE`` and
``TRUNCATE`` unless the transaction set ``partnerhub.audit_purge`` (the operator's retention
purge, ``partnerhub audit purge``; docs/audit.md). No foreign keys: a row outlives its actor,
its target and its customer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_partner_org_created", "partner_id", "org_id", "created"),
        Index("ix_audit_events_partner_customer_created", "partner_id", "customer_id", "created"),
    )

    created: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    # The partner whose data the action reached (the tenant of the row).
    partner_id: Mapped[uuid.UUID] = mapped_column()
    # The organization the row belongs to: the customer's organization, or the partner itself
    # (its templates, settings, administrators, tokens, sign-ins).
    org_id: Mapped[uuid.UUID] = mapped_column()
    customer_id: Mapped[uuid.UUID | None] = mapped_column()
    # partner_admin | token | customer_admin | system | anonymous (a refused sign-in)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_org_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_name: Mapped[str] = mapped_column(String(320), default="")
    actor_email: Mapped[str] = mapped_column(String(320), default="")
    actor_roles: Mapped[list[str]] = mapped_column(JSONB, default=list)
    actor_ip: Mapped[str] = mapped_column(String(64), default="")
    actor_user_agent: Mapped[str] = mapped_column(String(512), default="")
    tracking_id: Mapped[str] = mapped_column(String(200), default="")
    # One of audit.service.CATEGORIES; action is the precise verb ("template.update").
    category: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(200), default="")
    target_name: Mapped[str] = mapped_column(String(320), default="")
    # {"field": [before, after]} for a change; secrets never appear (only "changed").
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
