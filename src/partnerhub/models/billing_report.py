"""Wholesale billing reports (CONTRACT section 5): a request, its status and its CSV file.

``partner_id`` owns the report (the caller's partner); ``sub_partner_id`` narrows it to one of
its sub-partners (``subPartnerOrgId``). The CSV lives in ``<data dir>/billing/<id>.csv``.
At most one report not ``FAILED`` per partner, dates, type and sub-partner.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class BillingReport(IdMixin, Base):
    __tablename__ = "billing_reports"
    __table_args__ = (
        Index("ix_billing_reports_partner_created", "partner_id", "created", "id"),
        Index(
            "uq_billing_reports_active",
            "partner_id",
            "billing_start_date",
            "billing_end_date",
            "type",
            "sub_partner_id",
            unique=True,
            postgresql_where=text("status <> 'FAILED'"),
            postgresql_nulls_not_distinct=True,
        ),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    sub_partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE")
    )
    billing_start_date: Mapped[date] = mapped_column()
    billing_end_date: Mapped[date] = mapped_column()
    type: Mapped[str] = mapped_column(String(10))  # PARTNER | CUSTOMER | USER
    category: Mapped[str] = mapped_column(String(20))  # RECONCILIATION | POINT_IN_TIME
    status: Mapped[str] = mapped_column(String(12))  # IN_PROGRESS | COMPLETED | FAILED
    internal: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    completed: Mapped[datetime | None] = mapped_column()
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
