"""sign-in attempt counters (issue 10: brute force bounded under concurrency)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

New table ``sign_in_attempts``: the one throttle of every sign-in attempt (passwords of
partner administrators and customer users, second-factor codes, reset requests), keyed by
email address, client address or request kind, counted and checked in one upsert
(``kit.ratelimit.attempt``). The lock-out of an email address lives here, for known and
unknown addresses alike; ``org_credentials.failed_logins``/``locked_until`` are no longer used.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(
        op.f("ix_sign_in_attempts_expires"), "sign_in_attempts", ["expires"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_attempts_expires"), table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
