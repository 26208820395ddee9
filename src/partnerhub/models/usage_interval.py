"""The usage ledger: intervals ``[valid_from, valid_to)`` during which a customer (no
``subscriber_id``) or one of its subscribers held a billable package.

Written only by the database's own triggers on ``customers`` and ``org_users`` (migration
0012), in the transaction of the change: no code path can change a package without its ledger
row. A running interval has ``valid_to = 'infinity'``. Range-partitioned on ``valid_to``
(``usage_ledger_open`` for the running intervals, one partition per year for closed ones); no
foreign keys: the history outlives the customers and subscribers it describes. Python's
``datetime`` cannot hold ``infinity``: read ``nullif(valid_to, 'infinity')`` in plain SQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Sequence, String, text
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base

LEDGER_ID = Sequence("usage_ledger_id_seq")


class UsageInterval(Base):
    __tablename__ = "usage_ledger"
    __table_args__ = (
        Index("ix_usage_ledger_partner_from", "partner_id", "valid_from"),
        Index("ix_usage_ledger_customer_from", "customer_id", "valid_from"),
        {"postgresql_partition_by": "RANGE (valid_to)"},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, LEDGER_ID, primary_key=True, server_default=LEDGER_ID.next_value()
    )
    partner_id: Mapped[uuid.UUID] = mapped_column()
    customer_id: Mapped[uuid.UUID] = mapped_column()
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column()
    package: Mapped[str] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(320))
    valid_from: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime] = mapped_column(primary_key=True, server_default=text("'infinity'"))
