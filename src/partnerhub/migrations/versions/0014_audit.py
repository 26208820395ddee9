"""audit log (issue 13, item 5; issue 12, item 5: the readable history)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

* ``audit_events``: one row per action of a partner administrator, an API token or a customer
  administrator (sign-ins, refused ones included), written in the transaction of the action
  (``partnerhub.audit.service.record``). No foreign keys: a row outlives its actor, target and
  customer.
* Rows cannot be changed or deleted: ``audit_events_immutable`` (``BEFORE UPDATE OR DELETE``,
  per row) and ``audit_events_no_truncate`` (``BEFORE TRUNCATE``) raise, unless the transaction
  set ``partnerhub.audit_purge`` to ``on`` (``SET LOCAL``): the operator's retention purge
  (``partnerhub audit purge --older-than``, docs/audit.md) and nothing else in the code does.
  ``UPDATE`` is refused even then.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = r"""
CREATE FUNCTION audit_events_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('partnerhub.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_setting('partnerhub.audit_purge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_events rows cannot be changed or deleted (%)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse();
"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=320), nullable=False),
        sa.Column("actor_email", sa.String(length=320), nullable=False),
        sa.Column("actor_roles", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor_ip", sa.String(length=64), nullable=False),
        sa.Column("actor_user_agent", sa.String(length=512), nullable=False),
        sa.Column("tracking_id", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("target_name", sa.String(length=320), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(
        "ix_audit_events_partner_org_created",
        "audit_events",
        ["partner_id", "org_id", "created"],
    )
    op.create_index(
        "ix_audit_events_partner_customer_created",
        "audit_events",
        ["partner_id", "customer_id", "created"],
    )
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute("DROP TABLE audit_events")
    op.execute("DROP FUNCTION audit_events_refuse()")
