"""one identity per e-mail, tokens bound to their creator, TOTP recovery (issue 10)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

* ``identity_emails``: one row per lower-cased e-mail address held by a partner administrator
  or by users of customer organizations, with its kind and how many rows hold it (several
  ``org_users`` rows share an address while a ``pending_user_migration`` subscriber waits for
  its user's consent). Statement-level triggers on ``partner_admins`` and ``org_users`` keep it
  (also for ``COPY``, in one statement per insert, not one per row) and refuse, as a
  ``unique_violation`` of ``uq_identity_emails_one_kind``, an address already held by the other
  kind: concurrent creations of both kinds cannot both commit. Existing rows are loaded first;
  where both kinds already hold an address (made before this revision), the older record keeps
  it and sign-in routes to it only.
* ``api_tokens.created_by`` now cascades: a token dies with the administrator who made it
  (before, the token lost its creator and with it every limit of the creator's role).
* ``org_credentials``: ``totp_pending_encrypted`` (an enrolment not confirmed yet: the enrolled
  factor stays until the new one is confirmed) and ``totp_recovery_hashes`` (SHA-256 of the
  single-use recovery codes shown once at enrolment).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = """
CREATE FUNCTION identity_emails_take(claim text, emails text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    clash text;
BEGIN
    IF emails IS NULL OR cardinality(emails) = 0 THEN
        RETURN;
    END IF;
    WITH wanted AS (
        SELECT e AS email, count(*)::int AS n FROM unnest(emails) AS e GROUP BY e
    ), taken AS (
        INSERT INTO identity_emails AS i (email, kind, holders)
        SELECT email, claim, n FROM wanted ORDER BY email
        ON CONFLICT (email) DO UPDATE SET holders = i.holders + excluded.holders
        WHERE i.kind = excluded.kind
        RETURNING i.email
    )
    SELECT w.email INTO clash FROM wanted w
    WHERE NOT EXISTS (SELECT 1 FROM taken t WHERE t.email = w.email) LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'the email address already belongs to another kind of account'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_identity_emails_one_kind',
                  TABLE = 'identity_emails';
    END IF;
END $$;

CREATE FUNCTION identity_emails_release(claim text, emails text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF emails IS NULL OR cardinality(emails) = 0 THEN
        RETURN;
    END IF;
    UPDATE identity_emails i SET holders = i.holders - g.n
    FROM (SELECT e AS email, count(*)::int AS n FROM unnest(emails) AS e GROUP BY e) AS g
    WHERE i.email = g.email AND i.kind = claim;
    DELETE FROM identity_emails i
    WHERE i.email = ANY(emails) AND i.kind = claim AND i.holders <= 0;
END $$;

CREATE FUNCTION identity_emails_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM identity_emails_take(TG_ARGV[0], ARRAY(SELECT lower(email) FROM new_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION identity_emails_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM identity_emails_release(TG_ARGV[0], ARRAY(SELECT lower(email) FROM old_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION identity_emails_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM identity_emails_release(TG_ARGV[0], ARRAY(
        SELECT lower(o.email) FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE lower(o.email) <> lower(n.email)));
    PERFORM identity_emails_take(TG_ARGV[0], ARRAY(
        SELECT lower(n.email) FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE lower(o.email) <> lower(n.email)));
    RETURN NULL;
END $$;
"""

TABLES = {"partner_admins": "partner_admin", "org_users": "org_user"}


def upgrade() -> None:
    op.create_table(
        "identity_emails",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_identity_emails")),
    )
    # Existing addresses; where both kinds hold one, the older record keeps it.
    op.execute(
        """
        INSERT INTO identity_emails (email, kind, holders)
        SELECT DISTINCT ON (email) email, kind, holders FROM (
            SELECT lower(email) AS email, 'org_user' AS kind, count(*)::int AS holders,
                   min(created) AS since
            FROM org_users GROUP BY lower(email)
            UNION ALL
            SELECT lower(email), 'partner_admin', count(*)::int, min(created)
            FROM partner_admins GROUP BY lower(email)
        ) AS held
        ORDER BY email, since, kind
        """
    )
    op.execute(FUNCTIONS)
    for table, kind in TABLES.items():
        op.execute(
            f"CREATE TRIGGER {table}_identity_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION identity_emails_inserted('{kind}')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_identity_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION identity_emails_deleted('{kind}')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_identity_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION identity_emails_updated('{kind}')"
        )
    op.drop_constraint("fk_api_tokens_created_by_partner_admins", "api_tokens", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_api_tokens_created_by_partner_admins"),
        "api_tokens",
        "partner_admins",
        ["created_by"],
        ["id"],
        ondelete="CASCADE",
    )
    op.add_column(
        "org_credentials", sa.Column("totp_pending_encrypted", sa.LargeBinary(), nullable=True)
    )
    op.add_column(
        "org_credentials",
        sa.Column("totp_recovery_hashes", postgresql.ARRAY(sa.LargeBinary()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("org_credentials", "totp_recovery_hashes")
    op.drop_column("org_credentials", "totp_pending_encrypted")
    op.drop_constraint("fk_api_tokens_created_by_partner_admins", "api_tokens", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_api_tokens_created_by_partner_admins"),
        "api_tokens",
        "partner_admins",
        ["created_by"],
        ["id"],
        ondelete="SET NULL",
    )
    for table in TABLES:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {table}_identity_{event} ON {table}")
    for function in (
        "identity_emails_updated()",
        "identity_emails_deleted()",
        "identity_emails_inserted()",
        "identity_emails_release(text, text[])",
        "identity_emails_take(text, text[])",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("identity_emails")
