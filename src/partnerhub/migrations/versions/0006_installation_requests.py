"""installation assistance requests (S27)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

New table ``installation_requests``: a partner's request for installation help for one
customer (contact, preferred dates, sites, notes) and its status.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installation_requests",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("preferred_dates", sa.Text(), nullable=True),
        sa.Column("sites", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_installation_requests_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_installation_requests_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation_requests")),
    )
    op.create_index(
        "ix_installation_requests_customer_created",
        "installation_requests",
        ["customer_id", "created"],
        unique=False,
    )
    op.create_index(
        op.f("ix_installation_requests_partner_id"),
        "installation_requests",
        ["partner_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_installation_requests_partner_id"), table_name="installation_requests")
    op.drop_index("ix_installation_requests_customer_created", table_name="installation_requests")
    op.drop_table("installation_requests")
