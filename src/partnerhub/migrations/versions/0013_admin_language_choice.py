"""a partner administrator's portal language is NULL until chosen (issue 12, item 2)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

``partner_admins.language`` said ``en`` for everyone who never picked a language, so an Italian
browser was switched to English at sign-in. It is now NULL until the administrator picks one
(the top bar's select, or the sign-in page's); a NULL follows the browser's
``Accept-Language``. Existing ``en`` rows were the old default and cannot be told apart from a
choice: they become NULL (English browsers still get English).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("partner_admins", "language", existing_type=sa.String(length=10), nullable=True)
    op.execute("UPDATE partner_admins SET language = NULL WHERE language = 'en'")


def downgrade() -> None:
    op.execute("UPDATE partner_admins SET language = 'en' WHERE language IS NULL")
    op.alter_column(
        "partner_admins", "language", existing_type=sa.String(length=10), nullable=False
    )
