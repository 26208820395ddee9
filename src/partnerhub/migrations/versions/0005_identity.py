"""identity: partner IdPs (SAML, OIDC), single sign-on state, platform identity of org users

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

New tables: ``saml_identity_providers`` and ``oidc_providers`` (a partner's registered IdPs),
``sso_sp_keys`` (the key pair of each partner's SAML service provider), ``sso_requests``
(sign-ins in flight), ``saml_consumed_assertions`` (replay protection), ``server_keys`` (the
generated server secret), and for the platform identity of customer-organization users
``org_credentials`` (password, lock-out, TOTP), ``identity_links`` (invitation and
password-reset links) and ``org_sessions`` (customer portal sessions).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_keys")),
    )
    op.create_table(
        "oidc_providers",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("issuer", sa.String(length=2048), nullable=False),
        sa.Column("client_id", sa.String(length=500), nullable=False),
        sa.Column("client_secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("discovery_url", sa.String(length=2048), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("for_administrators", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_oidc_providers_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_providers")),
        sa.UniqueConstraint("partner_id", "name", name="uq_oidc_providers_name"),
    )
    op.create_index(
        op.f("ix_oidc_providers_partner_id"), "oidc_providers", ["partner_id"], unique=False
    )
    op.create_table(
        "saml_identity_providers",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=False),
        sa.Column("metadata_url", sa.String(length=2048), nullable=True),
        sa.Column("metadata_fetched", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signing_certificates", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("sso_url", sa.String(length=2048), nullable=False),
        sa.Column("sso_binding", sa.String(length=10), nullable=False),
        sa.Column("want_authn_requests_signed", sa.Boolean(), nullable=False),
        sa.Column("email_attribute", sa.String(length=200), nullable=True),
        sa.Column("for_administrators", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_saml_identity_providers_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saml_identity_providers")),
        sa.UniqueConstraint("partner_id", "entity_id", name="uq_saml_identity_providers_entity"),
    )
    op.create_index(
        op.f("ix_saml_identity_providers_partner_id"),
        "saml_identity_providers",
        ["partner_id"],
        unique=False,
    )
    op.create_table(
        "sso_sp_keys",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_sso_sp_keys_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_sso_sp_keys")),
    )
    op.create_table(
        "saml_consumed_assertions",
        sa.Column("saml_idp_id", sa.Uuid(), nullable=False),
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("consumed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["saml_idp_id"],
            ["saml_identity_providers.id"],
            name=op.f("fk_saml_consumed_assertions_saml_idp_id_saml_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "saml_idp_id", "assertion_id", name=op.f("pk_saml_consumed_assertions")
        ),
    )
    op.create_index(
        op.f("ix_saml_consumed_assertions_expires"),
        "saml_consumed_assertions",
        ["expires"],
        unique=False,
    )
    op.create_table(
        "sso_requests",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("saml_idp_id", sa.Uuid(), nullable=True),
        sa.Column("oidc_provider_id", sa.Uuid(), nullable=True),
        sa.Column("browser_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=True),
        sa.Column("code_verifier", sa.String(length=200), nullable=True),
        sa.Column("next_url", sa.String(length=2048), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["oidc_provider_id"],
            ["oidc_providers.id"],
            name=op.f("fk_sso_requests_oidc_provider_id_oidc_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_sso_requests_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["saml_idp_id"],
            ["saml_identity_providers.id"],
            name=op.f("fk_sso_requests_saml_idp_id_saml_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_requests")),
        sa.UniqueConstraint("request_key", name=op.f("uq_sso_requests_request_key")),
    )
    op.create_index(op.f("ix_sso_requests_expires"), "sso_requests", ["expires"], unique=False)
    op.create_index(
        op.f("ix_sso_requests_oidc_provider_id"), "sso_requests", ["oidc_provider_id"], unique=False
    )
    op.create_index(
        op.f("ix_sso_requests_partner_id"), "sso_requests", ["partner_id"], unique=False
    )
    op.create_index(
        op.f("ix_sso_requests_saml_idp_id"), "sso_requests", ["saml_idp_id"], unique=False
    )
    op.create_table(
        "identity_links",
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("org_user_id", sa.Uuid(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_user_id"],
            ["org_users.id"],
            name=op.f("fk_identity_links_org_user_id_org_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_links")),
    )
    op.create_index(op.f("ix_identity_links_expires"), "identity_links", ["expires"], unique=False)
    op.create_index(
        op.f("ix_identity_links_org_user_id"), "identity_links", ["org_user_id"], unique=False
    )
    op.create_table(
        "org_credentials",
        sa.Column("org_user_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("password_changed", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_user_id"],
            ["org_users.id"],
            name=op.f("fk_org_credentials_org_user_id_org_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_user_id", name=op.f("pk_org_credentials")),
    )
    op.create_table(
        "org_sessions",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("org_user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("second_factor_pending", sa.Boolean(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_user_id"],
            ["org_users.id"],
            name=op.f("fk_org_sessions_org_user_id_org_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_org_sessions")),
    )
    op.create_index(op.f("ix_org_sessions_expires"), "org_sessions", ["expires"], unique=False)
    op.create_index(
        op.f("ix_org_sessions_org_user_id"), "org_sessions", ["org_user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_org_sessions_org_user_id"), table_name="org_sessions")
    op.drop_index(op.f("ix_org_sessions_expires"), table_name="org_sessions")
    op.drop_table("org_sessions")
    op.drop_table("org_credentials")
    op.drop_index(op.f("ix_identity_links_org_user_id"), table_name="identity_links")
    op.drop_index(op.f("ix_identity_links_expires"), table_name="identity_links")
    op.drop_table("identity_links")
    op.drop_index(op.f("ix_sso_requests_saml_idp_id"), table_name="sso_requests")
    op.drop_index(op.f("ix_sso_requests_partner_id"), table_name="sso_requests")
    op.drop_index(op.f("ix_sso_requests_oidc_provider_id"), table_name="sso_requests")
    op.drop_index(op.f("ix_sso_requests_expires"), table_name="sso_requests")
    op.drop_table("sso_requests")
    op.drop_index(
        op.f("ix_saml_consumed_assertions_expires"), table_name="saml_consumed_assertions"
    )
    op.drop_table("saml_consumed_assertions")
    op.drop_table("sso_sp_keys")
    op.drop_index(
        op.f("ix_saml_identity_providers_partner_id"), table_name="saml_identity_providers"
    )
    op.drop_table("saml_identity_providers")
    op.drop_index(op.f("ix_oidc_providers_partner_id"), table_name="oidc_providers")
    op.drop_table("oidc_providers")
    op.drop_table("server_keys")
