"""customers: provisioning state, organization users, outbox, idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Customers get their SIP domain and recorded HQ location, and one organization each
(``org_id`` unique). New tables: ``org_users`` (administrators, later subscribers, of customer
organizations), ``outbox_emails``, ``idempotency_keys`` and ``customer_events``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_events",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_customer_events_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_events")),
    )
    op.create_index(
        op.f("ix_customer_events_customer_id"), "customer_events", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_customer_events_partner_id"), "customer_events", ["partner_id"], unique=False
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_idempotency_keys_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("partner_id", "key", name="uq_idempotency_keys_partner_key"),
    )
    op.create_index(
        op.f("ix_idempotency_keys_expires"), "idempotency_keys", ["expires"], unique=False
    )
    op.create_table(
        "outbox_emails",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_outbox_emails_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_emails")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_emails_dedupe_key")),
    )
    op.create_index(
        op.f("ix_outbox_emails_customer_id"), "outbox_emails", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_outbox_emails_partner_created",
        "outbox_emails",
        ["partner_id", "created", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_outbox_emails_status"), "outbox_emails", ["status"], unique=False)
    op.create_table(
        "org_users",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("roles", sa.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("package", sa.String(length=40), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("phone_number", sa.String(length=40), nullable=True),
        sa.Column("extension", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_change", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_org_users_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_org_users_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_users")),
    )
    op.create_index(op.f("ix_org_users_customer_id"), "org_users", ["customer_id"], unique=False)
    op.create_index(op.f("ix_org_users_org_id"), "org_users", ["org_id"], unique=False)
    op.create_index(op.f("ix_org_users_partner_id"), "org_users", ["partner_id"], unique=False)
    op.create_index(
        "uq_org_users_email", "org_users", [sa.literal_column("lower(email)")], unique=True
    )
    op.add_column("customers", sa.Column("sip_domain", sa.String(length=255), nullable=True))
    op.add_column(
        "customers",
        sa.Column("hq_location", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.drop_index(op.f("ix_customers_org_id"), table_name="customers")
    op.create_index(op.f("ix_customers_org_id"), "customers", ["org_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_customers_org_id"), table_name="customers")
    op.create_index(op.f("ix_customers_org_id"), "customers", ["org_id"], unique=False)
    op.drop_column("customers", "hq_location")
    op.drop_column("customers", "sip_domain")
    op.drop_index("uq_org_users_email", table_name="org_users")
    op.drop_index(op.f("ix_org_users_partner_id"), table_name="org_users")
    op.drop_index(op.f("ix_org_users_org_id"), table_name="org_users")
    op.drop_index(op.f("ix_org_users_customer_id"), table_name="org_users")
    op.drop_table("org_users")
    op.drop_index(op.f("ix_outbox_emails_status"), table_name="outbox_emails")
    op.drop_index("ix_outbox_emails_partner_created", table_name="outbox_emails")
    op.drop_index(op.f("ix_outbox_emails_customer_id"), table_name="outbox_emails")
    op.drop_table("outbox_emails")
    op.drop_index(op.f("ix_idempotency_keys_expires"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_customer_events_partner_id"), table_name="customer_events")
    op.drop_index(op.f("ix_customer_events_customer_id"), table_name="customer_events")
    op.drop_table("customer_events")
