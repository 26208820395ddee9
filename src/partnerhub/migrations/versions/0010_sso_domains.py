"""e-mail domains claimed by identity providers (issue 10: no enumeration at /signin)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

New table ``sso_domains``: the e-mail domains a partner's SAML IdP or OIDC provider claims.
``/signin`` routes every address of a claimed domain to that IdP and every other address to
the password form, so its answer depends on the domain alone, never on whether the address
has an account. The primary key (the domain) lets one IdP of one partner claim a domain.
Nothing is claimed by the migration: a partner whose organizations sign in through its IdP
registers their domains (docs/identity.md, "One sign-in page").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sso_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("saml_idp_id", sa.Uuid(), nullable=True),
        sa.Column("oidc_provider_id", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(saml_idp_id IS NULL) <> (oidc_provider_id IS NULL)",
            name=op.f("ck_sso_domains_one_identity_provider"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_sso_domains_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["saml_idp_id"],
            ["saml_identity_providers.id"],
            name=op.f("fk_sso_domains_saml_idp_id_saml_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["oidc_provider_id"],
            ["oidc_providers.id"],
            name=op.f("fk_sso_domains_oidc_provider_id_oidc_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_sso_domains")),
    )
    op.create_index(op.f("ix_sso_domains_partner_id"), "sso_domains", ["partner_id"], unique=False)
    op.create_index(
        op.f("ix_sso_domains_saml_idp_id"), "sso_domains", ["saml_idp_id"], unique=False
    )
    op.create_index(
        op.f("ix_sso_domains_oidc_provider_id"), "sso_domains", ["oidc_provider_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sso_domains_oidc_provider_id"), table_name="sso_domains")
    op.drop_index(op.f("ix_sso_domains_saml_idp_id"), table_name="sso_domains")
    op.drop_index(op.f("ix_sso_domains_partner_id"), table_name="sso_domains")
    op.drop_table("sso_domains")
