"""a webhook's filter as columns, matched by the dispatcher in SQL (issue 13, delivery CPU)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

``webhooks.filter`` stays as the partner wrote it (the API gives it back unchanged); its parsed
parts are kept beside it, set when the webhook is made (the filter cannot be changed
afterwards): ``filter_customer_id`` (``customerId=``), ``filter_status`` (``status=``) and
``filter_sub_partner_id`` (``onBehalfOfSubPartnerOrgId=``). The dispatcher matches a batch of
events against the active webhooks in the same statement that reads them, writes the
deliveries and moves its position: one statement a round instead of six.

Existing filters are parsed here, the way the API parsed them when it accepted them; one that
no longer parses (none can be stored through the API) deactivates its webhook, as the
dispatcher used to skip it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from partnerhub.errors import ApiError
    from partnerhub.events.service import parse_filter

    op.add_column("webhooks", sa.Column("filter_customer_id", sa.Uuid(), nullable=True))
    op.add_column("webhooks", sa.Column("filter_status", sa.String(length=200), nullable=True))
    op.add_column("webhooks", sa.Column("filter_sub_partner_id", sa.Uuid(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, filter FROM webhooks WHERE filter IS NOT NULL"))
    for webhook_id, raw in rows.all():
        try:
            parsed = parse_filter(raw)
        except ApiError:
            bind.execute(
                sa.text("UPDATE webhooks SET status = 'inactive' WHERE id = :id"),
                {"id": webhook_id},
            )
            continue
        bind.execute(
            sa.text(
                "UPDATE webhooks SET filter_customer_id = :c, filter_status = :s, "
                "filter_sub_partner_id = :p WHERE id = :id"
            ),
            {
                "id": webhook_id,
                "c": parsed.customer_id,
                "s": parsed.status,
                "p": parsed.sub_partner_id,
            },
        )


def downgrade() -> None:
    op.drop_column("webhooks", "filter_sub_partner_id")
    op.drop_column("webhooks", "filter_status")
    op.drop_column("webhooks", "filter_customer_id")
