"""a claimed e-mail domain belongs to one partner family (issue 10: routing no tenant can bend)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

``/signin`` sends every address of a claimed domain to the claiming IdP (0010). So that no
tenant can bend another tenant's sign-in by claiming a domain its people use, the database
keeps one rule both ways, for every writer (API, portal, bulk ``COPY``):

* a claim (``sso_domains``) is refused while a partner administrator or an organization user
  of that domain belongs to a partner outside the claimer's family;
* a partner administrator or organization user of a domain claimed by a partner outside its
  own partner's family is refused (insert, or an update of its address or partner).

A partner's family: itself, its parent and its sub-partners. Both refusals are a
``unique_violation`` of ``uq_sso_domains_one_family``. Claims take an exclusive, creations a
shared transaction-scoped advisory lock on the domain's bucket (one of 64), so a claim and a
creation that race cannot both commit, while creations never wait for one another.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FUNCTIONS = """
CREATE FUNCTION partner_family(p uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(id) FROM partners
    WHERE id = p OR parent_id = p OR id = (SELECT parent_id FROM partners WHERE id = p)
$$;

-- 726354: the advisory-lock class of the e-mail domain buckets
CREATE FUNCTION sso_domain_buckets_lock(domains text[], exclusive boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    bucket int;
BEGIN
    FOR bucket IN SELECT DISTINCT hashtext(d) & 63 FROM unnest(domains) AS d ORDER BY 1 LOOP
        IF exclusive THEN
            PERFORM pg_advisory_xact_lock(726354, bucket);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(726354, bucket);
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION sso_domains_claimed() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION identities_domain_checked() RETURNS trigger LANGUAGE plpgsql AS $$
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
    op.execute(FUNCTIONS)
    op.execute(
        "CREATE TRIGGER sso_domains_family BEFORE INSERT OR UPDATE ON sso_domains "
        "FOR EACH ROW EXECUTE FUNCTION sso_domains_claimed()"
    )
    for table in ("partner_admins", "org_users"):
        op.execute(
            f"CREATE TRIGGER {table}_domain_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION identities_domain_checked()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_domain_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION identities_domain_checked()"
        )


def downgrade() -> None:
    for table in ("partner_admins", "org_users"):
        op.execute(f"DROP TRIGGER {table}_domain_update ON {table}")
        op.execute(f"DROP TRIGGER {table}_domain_insert ON {table}")
    op.execute("DROP TRIGGER sso_domains_family ON sso_domains")
    op.execute("DROP FUNCTION identities_domain_checked()")
    op.execute("DROP FUNCTION sso_domains_claimed()")
    op.execute("DROP FUNCTION sso_domain_buckets_lock(text[], boolean)")
    op.execute("DROP FUNCTION partner_family(uuid)")
