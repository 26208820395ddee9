"""single-use links of partner administrators (issue 10: sub-partner administrators)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

New table ``partner_admin_links``: the invitation a new administrator of a sub-partner receives
to set a first password (single use, expiring).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_admin_links",
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("admin_id", sa.Uuid(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["partner_admins.id"],
            name=op.f("fk_partner_admin_links_admin_id_partner_admins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_admin_links")),
    )
    op.create_index(
        op.f("ix_partner_admin_links_admin_id"), "partner_admin_links", ["admin_id"], unique=False
    )
    op.create_index(
        op.f("ix_partner_admin_links_expires"), "partner_admin_links", ["expires"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_partner_admin_links_expires"), table_name="partner_admin_links")
    op.drop_index(op.f("ix_partner_admin_links_admin_id"), table_name="partner_admin_links")
    op.drop_table("partner_admin_links")
