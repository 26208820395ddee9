"""setup: locations, the number inventory, subscriber constraints, bulk imports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

New tables ``locations``, ``phone_numbers`` and ``subscriber_imports``. On ``org_users``
(created by 0003): a number has at most one owner (unique ``phone_number``), the owner's
number is in the inventory of the owner's location (``(location_id, phone_number)`` references
``phone_numbers``), an extension is unique per location, the email uniqueness leaves out
subscribers waiting for a user move (``pending_user_migration``), list indexes, and the
consent-move token columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("preferred_language", sa.String(length=10), nullable=False),
        sa.Column("announcement_language", sa.String(length=10), nullable=True),
        sa.Column("address1", sa.String(length=80), nullable=False),
        sa.Column("address2", sa.String(length=80), nullable=True),
        sa.Column("city", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=80), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("headquarters", sa.Boolean(), nullable=False),
        sa.Column("emergency_location_identifier", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_locations_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_locations_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_index(op.f("ix_locations_customer_id"), "locations", ["customer_id"], unique=False)
    op.create_index(op.f("ix_locations_org_id"), "locations", ["org_id"], unique=False)
    op.create_index(
        "ix_locations_partner_created", "locations", ["partner_id", "created", "id"], unique=False
    )
    op.create_index(op.f("ix_locations_partner_id"), "locations", ["partner_id"], unique=False)
    op.create_index(
        "uq_locations_customer_headquarters",
        "locations",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text("headquarters"),
    )
    op.create_index(
        "uq_locations_customer_name",
        "locations",
        ["customer_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "subscriber_imports",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("existing_count", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_subscriber_imports_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_subscriber_imports_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_imports")),
    )
    op.create_index(
        "ix_subscriber_imports_customer_created",
        "subscriber_imports",
        ["customer_id", "created"],
        unique=False,
    )
    op.create_index(
        op.f("ix_subscriber_imports_partner_id"), "subscriber_imports", ["partner_id"], unique=False
    )
    op.create_index(
        op.f("ix_subscriber_imports_status"), "subscriber_imports", ["status"], unique=False
    )
    op.create_table(
        "phone_numbers",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("number_type", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("main", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_phone_numbers_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_phone_numbers_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_phone_numbers_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("location_id", "phone_number", name="uq_phone_numbers_location_number"),
        sa.UniqueConstraint("phone_number", name="uq_phone_numbers_phone_number"),
    )
    op.create_index(
        op.f("ix_phone_numbers_customer_id"), "phone_numbers", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_phone_numbers_customer_number",
        "phone_numbers",
        ["customer_id", "phone_number"],
        unique=False,
    )
    op.create_index(
        op.f("ix_phone_numbers_partner_id"), "phone_numbers", ["partner_id"], unique=False
    )
    op.create_index(
        "uq_phone_numbers_location_main",
        "phone_numbers",
        ["location_id"],
        unique=True,
        postgresql_where=sa.text("main"),
    )
    op.add_column(
        "org_users", sa.Column("consent_token_hash", sa.LargeBinary(length=32), nullable=True)
    )
    op.add_column("org_users", sa.Column("consent_sent", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_org_users_customer_created", "org_users", ["customer_id", "created", "id"], unique=False
    )
    op.create_index(
        "ix_org_users_partner_created", "org_users", ["partner_id", "created", "id"], unique=False
    )
    op.create_unique_constraint(
        op.f("uq_org_users_consent_token_hash"), "org_users", ["consent_token_hash"]
    )
    op.create_index(
        "uq_org_users_customer_email",
        "org_users",
        ["customer_id", sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_unique_constraint(
        "uq_org_users_location_extension", "org_users", ["location_id", "extension"]
    )
    op.create_unique_constraint("uq_org_users_phone_number", "org_users", ["phone_number"])
    op.create_foreign_key(
        "fk_org_users_location_id_locations", "org_users", "locations", ["location_id"], ["id"]
    )
    op.create_foreign_key(
        "fk_org_users_location_number_phone_numbers",
        "org_users",
        "phone_numbers",
        ["location_id", "phone_number"],
        ["location_id", "phone_number"],
    )
    op.create_index("ix_org_users_email", "org_users", [sa.literal_column("lower(email)")])
    op.drop_index("uq_org_users_email", table_name="org_users")
    op.create_index(
        "uq_org_users_email",
        "org_users",
        [sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("status IS DISTINCT FROM 'pending_user_migration'"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM org_users WHERE status = 'pending_user_migration'")
    op.drop_index("ix_org_users_email", table_name="org_users")
    op.drop_index("uq_org_users_email", table_name="org_users")
    op.create_index(
        "uq_org_users_email", "org_users", [sa.literal_column("lower(email)")], unique=True
    )
    op.drop_constraint(
        "fk_org_users_location_number_phone_numbers", "org_users", type_="foreignkey"
    )
    op.drop_constraint("fk_org_users_location_id_locations", "org_users", type_="foreignkey")
    op.drop_constraint("uq_org_users_phone_number", "org_users", type_="unique")
    op.drop_constraint("uq_org_users_location_extension", "org_users", type_="unique")
    op.drop_index("uq_org_users_customer_email", table_name="org_users")
    op.drop_constraint(op.f("uq_org_users_consent_token_hash"), "org_users", type_="unique")
    op.drop_index("ix_org_users_partner_created", table_name="org_users")
    op.drop_index("ix_org_users_customer_created", table_name="org_users")
    op.drop_column("org_users", "consent_sent")
    op.drop_column("org_users", "consent_token_hash")
    op.drop_index(
        "uq_phone_numbers_location_main",
        table_name="phone_numbers",
        postgresql_where=sa.text("main"),
    )
    op.drop_index(op.f("ix_phone_numbers_partner_id"), table_name="phone_numbers")
    op.drop_index("ix_phone_numbers_customer_number", table_name="phone_numbers")
    op.drop_index(op.f("ix_phone_numbers_customer_id"), table_name="phone_numbers")
    op.drop_table("phone_numbers")
    op.drop_index(op.f("ix_subscriber_imports_status"), table_name="subscriber_imports")
    op.drop_index(op.f("ix_subscriber_imports_partner_id"), table_name="subscriber_imports")
    op.drop_index("ix_subscriber_imports_customer_created", table_name="subscriber_imports")
    op.drop_table("subscriber_imports")
    op.drop_index("uq_locations_customer_name", table_name="locations")
    op.drop_index(
        "uq_locations_customer_headquarters",
        table_name="locations",
        postgresql_where=sa.text("headquarters"),
    )
    op.drop_index(op.f("ix_locations_partner_id"), table_name="locations")
    op.drop_index("ix_locations_partner_created", table_name="locations")
    op.drop_index(op.f("ix_locations_org_id"), table_name="locations")
    op.drop_index(op.f("ix_locations_customer_id"), table_name="locations")
    op.drop_table("locations")
