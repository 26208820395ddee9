"""a claimed domain as addresses spell it: the domain-family rule sees internationalized domains

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

A claim (``sso_domains.domain``) is the domain's lower-case ASCII form (IDNA,
``xn--bcher-kva.example``); the addresses the hub stores keep email-validator's normalized
form, whose internationalized domain is Unicode (``ann@bücher.example``). Migration 0011's
triggers compared the two spellings as text, so they never met for an internationalized
domain: another family could claim the domain of a partner's people, and a partner
administrator could be created at another family's claimed domain (the administrators' path
has no precheck of its own), both sent to a tenant's IdP that was not theirs.

``sso_domains.address_domain`` is the claimed domain as stored addresses spell it
(``kit.validators.address_domain``: email-validator's Unicode form, the domain itself when it
is plain ASCII), written with the claim by its only writer (``sso.service``) and filled here
for existing claims. Both triggers now compare an address's domain with either spelling of a
claim, and a claim locks the buckets of both spellings, so that a creation at either spelling
waits for it (and a race never lets both commit). Addresses themselves are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FUNCTIONS = """
CREATE OR REPLACE FUNCTION sso_domains_claimed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    family uuid[];
BEGIN
    PERFORM sso_domain_buckets_lock(ARRAY[NEW.domain, NEW.address_domain], true);
    family := partner_family(NEW.partner_id);
    IF EXISTS (
        SELECT 1 FROM partner_admins a
        WHERE lower(split_part(a.email, '@', 2)) IN (NEW.domain, NEW.address_domain)
          AND a.partner_id <> ALL(family)
    ) OR EXISTS (
        SELECT 1 FROM org_users u
        WHERE lower(split_part(u.email, '@', 2)) IN (NEW.domain, NEW.address_domain)
          AND u.partner_id <> ALL(family)
    ) THEN
        RAISE EXCEPTION 'the e-mail domain % is used by another organization', NEW.domain
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_sso_domains_one_family',
                  TABLE = 'sso_domains';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION identities_domain_checked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    domains text[];
    clash text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT lower(split_part(n.email, '@', 2))) INTO domains
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE lower(n.email) <> lower(o.email) OR n.partner_id <> o.partner_id;
    ELSE
        SELECT array_agg(DISTINCT lower(split_part(email, '@', 2))) INTO domains FROM new_rows;
    END IF;
    IF domains IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM sso_domain_buckets_lock(domains, false);
    SELECT s.domain INTO clash
    FROM new_rows n
    JOIN sso_domains s
      ON lower(split_part(n.email, '@', 2)) IN (s.domain, s.address_domain)
    WHERE (s.domain = ANY(domains) OR s.address_domain = ANY(domains))
      AND n.partner_id <> ALL(partner_family(s.partner_id))
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'the e-mail domain % signs in through another partner''s identity provider',
            clash
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_sso_domains_one_family',
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;
"""

# migration 0011's functions, restored by the downgrade
OLD_FUNCTIONS = """
CREATE OR REPLACE FUNCTION sso_domains_claimed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    family uuid[];
BEGIN
    PERFORM sso_domain_buckets_lock(ARRAY[NEW.domain], true);
    family := partner_family(NEW.partner_id);
    IF EXISTS (
        SELECT 1 FROM partner_admins a
        WHERE lower(split_part(a.email, '@', 2)) = NEW.domain AND a.partner_id <> ALL(family)
    ) OR EXISTS (
        SELECT 1 FROM org_users u
        WHERE lower(split_part(u.email, '@', 2)) = NEW.domain AND u.partner_id <> ALL(family)
    ) THEN
        RAISE EXCEPTION 'the e-mail domain % is used by another organization', NEW.domain
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_sso_domains_one_family',
                  TABLE = 'sso_domains';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION identities_domain_checked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    domains text[];
    clash text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT lower(split_part(n.email, '@', 2))) INTO domains
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE lower(n.email) <> lower(o.email) OR n.partner_id <> o.partner_id;
    ELSE
        SELECT array_agg(DISTINCT lower(split_part(email, '@', 2))) INTO domains FROM new_rows;
    END IF;
    IF domains IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM sso_domain_buckets_lock(domains, false);
    SELECT s.domain INTO clash
    FROM new_rows n
    JOIN sso_domains s ON s.domain = lower(split_part(n.email, '@', 2))
    WHERE s.domain = ANY(domains) AND n.partner_id <> ALL(partner_family(s.partner_id))
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'the e-mail domain % signs in through another partner''s identity provider',
            clash
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_sso_domains_one_family',
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    from partnerhub.kit.validators import address_domain

    op.add_column("sso_domains", sa.Column("address_domain", sa.String(253), nullable=True))
    bind = op.get_bind()
    claims = bind.execute(sa.text("SELECT domain FROM sso_domains WHERE domain LIKE '%xn--%'"))
    for (domain,) in claims.fetchall():
        bind.execute(
            sa.text("UPDATE sso_domains SET address_domain = :a WHERE domain = :d"),
            {"a": address_domain(domain), "d": domain},
        )
    op.execute("UPDATE sso_domains SET address_domain = domain WHERE address_domain IS NULL")
    op.alter_column("sso_domains", "address_domain", nullable=False)
    op.create_index("ix_sso_domains_address_domain", "sso_domains", ["address_domain"])
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(OLD_FUNCTIONS)
    op.drop_index("ix_sso_domains_address_domain", table_name="sso_domains")
    op.drop_column("sso_domains", "address_domain")
