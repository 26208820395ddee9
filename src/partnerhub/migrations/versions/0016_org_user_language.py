"""a customer-portal user's language, remembered (NULL until chosen)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

``org_users.language``: the portal language a user of a customer organization picked (the top
bar's select, or the sign-in page's). NULL until they pick one: their pages follow the browser
(``Accept-Language``) and their e-mails the customer's language. Once set, it is their
customer-portal language on every browser and the language of the e-mails about their own
account (invitation, password reset, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("org_users", sa.Column("language", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("org_users", "language")
