"""usage ledger and billing reports (issue 11: the wholesale billing report operations)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

* ``usage_ledger``: one row per interval ``[valid_from, valid_to)`` during which a customer
  (``subscriber_id`` NULL) or one of its subscribers held a billable package; an interval still
  running has ``valid_to = 'infinity'``. Range-partitioned on ``valid_to``: the running
  intervals (what every report reads) live in ``usage_ledger_open``, closed ones in one
  partition per calendar year (``usage_ledger_<year>``, created ahead by
  ``usage_ledger_add_years`` — here and by the monthly ``billing.ledger_partitions`` job), and
  ``usage_ledger_other`` catches a year not created in time. A month's report reads the open
  partition and the closed years that reach into the month, never older years.
* Triggers write it in the transaction of the change itself, so the ledger cannot disagree with
  the data: ``customers`` (row triggers: a package is billable while the customer is provisioned
  — ``provisioned``, ``provisioned_with_errors``, ``updating``, ``deleting`` — and the package's
  own status is ``provisioned``, or ``deleting`` while it was billable; a package without a
  per-package status counts as provisioned) and ``org_users`` (statement triggers with
  transition tables for inserts and deletes — one statement per import batch or cascade —, a
  row trigger for updates: a subscriber's package is billable while its status is
  ``provisioned``, or unset for the first administrator). An interval opened and closed in the
  same transaction is removed, not kept with zero length.
* ``usage_customers``: what a report shows of a customer (external id, organization, region,
  wholesale subscription), kept after the customer is deleted.
* ``billing_reports``: the reports, at most one not ``FAILED`` per partner, dates, type and
  sub-partner (``uq_billing_reports_active``, NULLS NOT DISTINCT: PostgreSQL 15).
* ``partnerhub_id(kind, uuid, region)``: ``partnerhub.ids.encode`` in SQL (for the CSV).

Existing rows are backfilled: running intervals from the customer's and the user's creation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = r"""
CREATE FUNCTION partnerhub_id(kind text, id uuid, region text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT rtrim(translate(encode(convert_to(
        'partnerhub://' || lower(region) || '/' || upper(kind) || '/' || id::text, 'UTF8'),
        'base64'), E'+/\n', '-_'), '=')
$$;

CREATE FUNCTION usage_ledger_add_years(first_year int, last_year int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    y int;
    low timestamptz;
    high timestamptz;
BEGIN
    FOR y IN first_year..last_year LOOP
        CONTINUE WHEN to_regclass(format('usage_ledger_%s', y)) IS NOT NULL;
        low := make_timestamptz(y, 1, 1, 0, 0, 0, 'UTC');
        high := make_timestamptz(y + 1, 1, 1, 0, 0, 0, 'UTC');
        -- Rows of that year already caught by the default partition move into the new one.
        EXECUTE format('CREATE TEMP TABLE usage_ledger_moving ON COMMIT DROP AS '
                       'SELECT * FROM usage_ledger_other WHERE valid_to >= %L AND valid_to < %L',
                       low, high);
        DELETE FROM usage_ledger_other WHERE valid_to >= low AND valid_to < high;
        EXECUTE format(
            'CREATE TABLE usage_ledger_%s PARTITION OF usage_ledger FOR VALUES FROM (%L) TO (%L)',
            y, low, high);
        EXECUTE 'INSERT INTO usage_ledger SELECT * FROM usage_ledger_moving';
        EXECUTE 'DROP TABLE usage_ledger_moving';
    END LOOP;
END $$;

CREATE FUNCTION usage_customer_packages(status text, packages text[], details jsonb, running text[])
RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    WITH entries AS (
        SELECT e->>'name' AS name, e->>'status' AS state
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(details->'packages') = 'array'
                                       THEN details->'packages' ELSE '[]'::jsonb END) AS e
    )
    SELECT CASE
        WHEN status IS NULL
             OR status NOT IN ('provisioned', 'provisioned_with_errors', 'updating', 'deleting')
        THEN '{}'::text[]
        ELSE coalesce(ARRAY(
            SELECT DISTINCT name FROM (
                SELECT name FROM entries
                WHERE state = 'provisioned' OR (state = 'deleting' AND name = ANY(running))
                UNION
                SELECT p FROM unnest(packages) AS p
                WHERE NOT EXISTS (SELECT 1 FROM entries WHERE entries.name = p)
            ) AS held WHERE name IS NOT NULL ORDER BY name), '{}'::text[])
    END
$$;

CREATE FUNCTION usage_ledger_end(customer uuid, subscriber uuid, packages text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF subscriber IS NULL THEN
        DELETE FROM usage_ledger
        WHERE customer_id = customer AND subscriber_id IS NULL AND valid_to = 'infinity'
          AND package = ANY(packages) AND valid_from >= now();
        UPDATE usage_ledger SET valid_to = now()
        WHERE customer_id = customer AND subscriber_id IS NULL AND valid_to = 'infinity'
          AND package = ANY(packages);
    ELSE
        DELETE FROM usage_ledger
        WHERE subscriber_id = subscriber AND valid_to = 'infinity' AND valid_from >= now();
        UPDATE usage_ledger SET valid_to = now()
        WHERE subscriber_id = subscriber AND valid_to = 'infinity';
    END IF;
END $$;

CREATE FUNCTION usage_ledger_customers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    running text[];
    running_here text[];
    held text[] := '{}';
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE usage_customers SET removed = now() WHERE customer_id = OLD.id;
        SELECT coalesce(array_agg(package), '{}') INTO running FROM usage_ledger
        WHERE customer_id = OLD.id AND subscriber_id IS NULL AND valid_to = 'infinity';
        PERFORM usage_ledger_end(OLD.id, NULL, running);
        RETURN NULL;
    END IF;
    INSERT INTO usage_customers AS u (customer_id, partner_id, external_id, org_id, data_region,
                                      subscription_id, name)
    VALUES (NEW.id, NEW.partner_id, NEW.external_id, NEW.org_id, NEW.data_region,
            NEW.settings->>'wholesaleSubscriptionId', NEW.name)
    ON CONFLICT (customer_id) DO UPDATE SET
        partner_id = excluded.partner_id, external_id = excluded.external_id,
        org_id = excluded.org_id, data_region = excluded.data_region,
        subscription_id = excluded.subscription_id, name = excluded.name, removed = NULL
    WHERE (u.partner_id, u.external_id, u.org_id, u.data_region, u.subscription_id, u.name)
          IS DISTINCT FROM (excluded.partner_id, excluded.external_id, excluded.org_id,
                            excluded.data_region, excluded.subscription_id, excluded.name);
    SELECT coalesce(array_agg(package), '{}'),
           coalesce(array_agg(package) FILTER (WHERE partner_id = NEW.partner_id), '{}')
    INTO running, running_here FROM usage_ledger
    WHERE customer_id = NEW.id AND subscriber_id IS NULL AND valid_to = 'infinity';
    held := usage_customer_packages(NEW.status, NEW.packages, NEW.resource_details, running_here);
    -- Ended: no longer held, or held under another partner (the interval starts again there).
    PERFORM usage_ledger_end(NEW.id, NULL, ARRAY(
        SELECT p FROM unnest(running) AS p WHERE NOT (p = ANY(held) AND p = ANY(running_here))));
    INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from)
    SELECT NEW.partner_id, NEW.id, NULL, p, NULL, now()
    FROM unnest(held) AS p WHERE NOT (p = ANY(running_here));
    RETURN NULL;
END $$;

CREATE FUNCTION usage_ledger_org_users_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from)
    SELECT partner_id, customer_id, id, package, lower(email), now() FROM usage_new
    WHERE package IS NOT NULL AND coalesce(status, 'provisioned') = 'provisioned';
    RETURN NULL;
END $$;

CREATE FUNCTION usage_ledger_org_users_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM usage_ledger AS l USING usage_old AS o
    WHERE l.subscriber_id = o.id AND l.valid_to = 'infinity' AND l.valid_from >= now();
    UPDATE usage_ledger AS l SET valid_to = now() FROM usage_old AS o
    WHERE l.subscriber_id = o.id AND l.valid_to = 'infinity';
    RETURN NULL;
END $$;

CREATE FUNCTION usage_ledger_org_users_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := OLD.package IS NOT NULL AND coalesce(OLD.status, 'provisioned') = 'provisioned';
    now_ boolean := NEW.package IS NOT NULL AND coalesce(NEW.status, 'provisioned') = 'provisioned';
BEGIN
    IF was AND now_ AND OLD.package = NEW.package AND OLD.customer_id = NEW.customer_id
       AND OLD.partner_id = NEW.partner_id AND OLD.id = NEW.id THEN
        IF lower(OLD.email) IS DISTINCT FROM lower(NEW.email) THEN
            UPDATE usage_ledger SET email = lower(NEW.email)
            WHERE subscriber_id = NEW.id AND valid_to = 'infinity';
        END IF;
        RETURN NULL;
    END IF;
    PERFORM usage_ledger_end(OLD.customer_id, OLD.id, NULL);
    IF now_ THEN
        INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email,
                                  valid_from)
        VALUES (NEW.partner_id, NEW.customer_id, NEW.id, NEW.package, lower(NEW.email), now());
    END IF;
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER customers_usage_insert AFTER INSERT ON customers
    FOR EACH ROW EXECUTE FUNCTION usage_ledger_customers();
CREATE TRIGGER customers_usage_update AFTER UPDATE ON customers
    FOR EACH ROW WHEN (
        (OLD.status, OLD.packages, OLD.resource_details, OLD.partner_id, OLD.external_id,
         OLD.org_id, OLD.data_region, OLD.name, OLD.settings->>'wholesaleSubscriptionId')
        IS DISTINCT FROM
        (NEW.status, NEW.packages, NEW.resource_details, NEW.partner_id, NEW.external_id,
         NEW.org_id, NEW.data_region, NEW.name, NEW.settings->>'wholesaleSubscriptionId'))
    EXECUTE FUNCTION usage_ledger_customers();
CREATE TRIGGER customers_usage_delete AFTER DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION usage_ledger_customers();
CREATE TRIGGER org_users_usage_insert AFTER INSERT ON org_users
    REFERENCING NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage_ledger_org_users_insert();
CREATE TRIGGER org_users_usage_delete AFTER DELETE ON org_users
    REFERENCING OLD TABLE AS usage_old
    FOR EACH STATEMENT EXECUTE FUNCTION usage_ledger_org_users_delete();
CREATE TRIGGER org_users_usage_update AFTER UPDATE ON org_users
    FOR EACH ROW WHEN (
        (OLD.package, OLD.status, OLD.customer_id, OLD.partner_id, lower(OLD.email))
        IS DISTINCT FROM
        (NEW.package, NEW.status, NEW.customer_id, NEW.partner_id, lower(NEW.email)))
    EXECUTE FUNCTION usage_ledger_org_users_update();
"""

BACKFILL = """
INSERT INTO usage_customers (customer_id, partner_id, external_id, org_id, data_region,
                             subscription_id, name)
SELECT id, partner_id, external_id, org_id, data_region,
       settings->>'wholesaleSubscriptionId', name FROM customers;
INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from)
SELECT c.partner_id, c.id, NULL, p, NULL, c.created
FROM customers AS c,
     unnest(usage_customer_packages(
         c.status, c.packages, c.resource_details,
         ARRAY(SELECT jsonb_array_elements(c.resource_details->'packages')->>'name'
               WHERE jsonb_typeof(c.resource_details->'packages') = 'array'))) AS p;
INSERT INTO usage_ledger (partner_id, customer_id, subscriber_id, package, email, valid_from)
SELECT partner_id, customer_id, id, package, lower(email), created FROM org_users
WHERE package IS NOT NULL AND coalesce(status, 'provisioned') = 'provisioned';
"""


def upgrade() -> None:
    # A sequence, not an identity column: PostgreSQL 15 and 16 refuse identity columns on
    # partitioned tables.
    op.execute("CREATE SEQUENCE usage_ledger_id_seq")
    op.create_table(
        "usage_ledger",
        sa.Column(
            "id",
            sa.BigInteger(),
            server_default=sa.text("nextval('usage_ledger_id_seq')"),
            nullable=False,
        ),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber_id", sa.Uuid(), nullable=True),
        sa.Column("package", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "valid_to",
            sa.DateTime(timezone=True),
            server_default=sa.text("'infinity'"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", "valid_to", name=op.f("pk_usage_ledger")),
        postgresql_partition_by="RANGE (valid_to)",
    )
    op.create_index(
        "ix_usage_ledger_partner_from", "usage_ledger", ["partner_id", "valid_from"], unique=False
    )
    op.create_index(
        "ix_usage_ledger_customer_from", "usage_ledger", ["customer_id", "valid_from"], unique=False
    )
    op.execute("ALTER SEQUENCE usage_ledger_id_seq OWNED BY usage_ledger.id")
    op.execute(
        "CREATE TABLE usage_ledger_open PARTITION OF usage_ledger "
        "FOR VALUES FROM ('infinity') TO (MAXVALUE)"
    )
    op.execute("CREATE TABLE usage_ledger_other PARTITION OF usage_ledger DEFAULT")
    # One running interval per customer package and per subscriber package.
    op.execute(
        "CREATE UNIQUE INDEX uq_usage_ledger_open_customer ON usage_ledger_open "
        "(customer_id, package) WHERE subscriber_id IS NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_usage_ledger_open_subscriber ON usage_ledger_open "
        "(subscriber_id, package) WHERE subscriber_id IS NOT NULL"
    )
    op.create_table(
        "usage_customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("data_region", sa.String(length=4), nullable=True),
        sa.Column("subscription_id", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("removed", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_usage_customers")),
    )
    op.create_index(
        op.f("ix_usage_customers_partner_id"), "usage_customers", ["partner_id"], unique=False
    )
    op.create_table(
        "billing_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("sub_partner_id", sa.Uuid(), nullable=True),
        sa.Column("billing_start_date", sa.Date(), nullable=False),
        sa.Column("billing_end_date", sa.Date(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("completed", sa.DateTime(timezone=True), nullable=True),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_billing_reports_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sub_partner_id"],
            ["partners.id"],
            name=op.f("fk_billing_reports_sub_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_reports")),
    )
    op.create_index(
        "ix_billing_reports_partner_created",
        "billing_reports",
        ["partner_id", "created", "id"],
        unique=False,
    )
    op.create_index(
        "uq_billing_reports_active",
        "billing_reports",
        ["partner_id", "billing_start_date", "billing_end_date", "type", "sub_partner_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'FAILED'"),
        postgresql_nulls_not_distinct=True,
    )
    op.execute(FUNCTIONS)
    op.execute(
        "SELECT usage_ledger_add_years(2020, extract(year FROM now() AT TIME ZONE 'UTC')::int + 2)"
    )
    op.execute(BACKFILL)
    op.execute(TRIGGERS)


def downgrade() -> None:
    for trigger, table in (
        ("customers_usage_insert", "customers"),
        ("customers_usage_update", "customers"),
        ("customers_usage_delete", "customers"),
        ("org_users_usage_insert", "org_users"),
        ("org_users_usage_delete", "org_users"),
        ("org_users_usage_update", "org_users"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.drop_index("uq_billing_reports_active", table_name="billing_reports")
    op.drop_index("ix_billing_reports_partner_created", table_name="billing_reports")
    op.drop_table("billing_reports")
    op.drop_index(op.f("ix_usage_customers_partner_id"), table_name="usage_customers")
    op.drop_table("usage_customers")
    op.drop_table("usage_ledger")  # its partitions go with it
    for function in (
        "usage_ledger_org_users_update()",
        "usage_ledger_org_users_delete()",
        "usage_ledger_org_users_insert()",
        "usage_ledger_customers()",
        "usage_ledger_end(uuid, uuid, text[])",
        "usage_customer_packages(text, text[], jsonb, text[])",
        "usage_ledger_add_years(int, int)",
        "partnerhub_id(text, uuid, text)",
    ):
        op.execute(f"DROP FUNCTION {function}")
