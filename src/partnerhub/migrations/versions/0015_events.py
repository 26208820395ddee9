"""one event stream, webhooks and their deliveries (issue 13)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

* ``events``: one row per change of a customer, subscriber, location, number, import, billing
  report, sub-partner, template or administrator, written by an AFTER row trigger on the
  resource's table (``partnerhub_event``) — in the transaction of the change, for the ORM, plain
  SQL and the bulk import's ``COPY`` alike: no change without its event, no event without its
  change. ``data`` is the row as it was at that moment (secrets and bulky columns left out);
  the feed and the deliveries render it with the resource's presenter. The actor and the
  request's ``TrackingID`` come from ``partnerhub.actor`` / ``partnerhub.tracking_id``, set
  with the transaction's ``BEGIN`` (``partnerhub.db``).
* ``event_commits``: one row per committed transaction that wrote events, numbered in commit
  order by a deferred constraint trigger (``partnerhub_event_commit``) under a transaction
  advisory lock: a transaction's number is taken just before it commits and the next one only
  after it is visible, so a reader that has seen number *n* has seen every number below it.
  The feed's cursor is ``(position, event id)``.
* ``webhooks``, ``webhook_deliveries`` (one per webhook and event, its id the
  ``webhook-id`` header: the same for every retry), ``webhook_attempts`` (the per-attempt log)
  and ``webhook_dispatch`` (the dispatcher's position in the stream).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (resource, status column, columns kept out of the snapshot)
SOURCES: dict[str, tuple[str, str, list[str]]] = {
    "customers": ("wholesaleCustomers", "status", []),
    "org_users": (
        "wholesaleSubscribers",
        "status",
        ["consent_token_hash", "consent_sent"],
    ),
    "locations": ("locations", "", []),
    "phone_numbers": ("numbers", "state", []),
    "subscriber_imports": ("subscriberImports", "status", ["source", "result"]),
    "billing_reports": ("billingReports", "status", []),
    "partners": ("subPartners", "provisioning_state", ["settings"]),
    "templates": ("templates", "", []),
    "partner_admins": ("administrators", "active", ["password_hash", "last_login"]),
}

FUNCTIONS = r"""
CREATE FUNCTION partnerhub_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    resource text := TG_ARGV[0];
    status_column text := TG_ARGV[1];
    hidden text[] := TG_ARGV[2]::text[];
    before jsonb;
    after jsonb;
    snapshot jsonb;
    kind text;
    owner uuid;
    customer uuid;
BEGIN
    IF TG_OP <> 'INSERT' THEN before := to_jsonb(OLD) - hidden; END IF;
    IF TG_OP <> 'DELETE' THEN after := to_jsonb(NEW) - hidden; END IF;
    IF TG_OP = 'INSERT' THEN
        kind := 'created';
        snapshot := after;
    ELSIF TG_OP = 'DELETE' THEN
        kind := 'deleted';
        snapshot := before;
    ELSE
        IF after = before THEN  -- only columns kept out changed (a sign-in, a consent mail)
            RETURN NULL;
        END IF;
        snapshot := after;
        kind := CASE WHEN status_column <> ''
                      AND after -> status_column IS DISTINCT FROM before -> status_column
                     THEN 'statusChanged' ELSE 'updated' END;
    END IF;
    IF TG_TABLE_NAME = 'partners' THEN
        owner := (snapshot ->> 'parent_id')::uuid;  -- a sub-partner is its parent's resource
        IF owner IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        owner := (snapshot ->> 'partner_id')::uuid;
    END IF;
    customer := CASE WHEN TG_TABLE_NAME = 'customers' THEN (snapshot ->> 'id')::uuid
                     ELSE (snapshot ->> 'customer_id')::uuid END;
    INSERT INTO events (resource, event, resource_id, partner_id, parent_partner_id,
                        customer_id, actor_id, tracking_id, data)
    VALUES (resource, kind, (snapshot ->> 'id')::uuid, owner,
            (SELECT parent_id FROM partners WHERE id = owner), customer,
            nullif(current_setting('partnerhub.actor', true), ''),
            nullif(current_setting('partnerhub.tracking_id', true), ''), snapshot);
    RETURN NULL;
END $$;

CREATE FUNCTION partnerhub_event_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('partnerhub.event_commit', true) = 'numbered' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('partnerhub.event_commit', 'numbered', true);
    -- Held until the commit is visible: numbers are taken in commit order.
    PERFORM pg_advisory_xact_lock(7306013);
    INSERT INTO event_commits (txid) VALUES (pg_current_xact_id()::text::bigint)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id())::text::bigint"),
            nullable=False,
        ),
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("parent_partner_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("tracking_id", sa.String(200), nullable=True),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_txid", "events", ["txid"])
    op.create_index("ix_events_created", "events", ["created"])
    op.create_table(
        "event_commits",
        sa.Column("position", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column(
            "committed", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("position", name="pk_event_commits"),
        sa.UniqueConstraint("txid", name="uq_event_commits_txid"),
    )
    op.execute(FUNCTIONS)
    op.execute(
        "CREATE CONSTRAINT TRIGGER events_commit_order AFTER INSERT ON events "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION partnerhub_event_commit()"
    )
    for table, (resource, status, hidden) in SOURCES.items():
        array = "{" + ",".join(hidden) + "}"
        op.execute(
            f"CREATE TRIGGER {table}_events AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION partnerhub_event('{resource}', '{status}', "
            f"'{array}')"
        )

    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("target_url", sa.String(2048), nullable=False),
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("filter", sa.String(1024), nullable=True),
        sa.Column("secret", sa.String(256), nullable=True),
        sa.Column("status", sa.String(10), nullable=False, server_default="active"),
        sa.Column("owned_by", sa.String(20), nullable=False, server_default="creator"),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("start_position", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name="fk_webhooks_partner_id_partners",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_partner_id", "webhooks", ["partner_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),  # NULL: a test event
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=True),  # a test event's body
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "next_attempt",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_webhook_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["webhook_id", "position", "event_id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_excerpt", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_webhook", "webhook_attempts", ["webhook_id", "id"])
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id"])
    op.create_table(
        "webhook_dispatch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_dispatch"),
    )
    # its one row exists from the start: the dispatcher only moves it
    op.execute("INSERT INTO webhook_dispatch (id, position, event_id) VALUES (1, 0, 0)")


def downgrade() -> None:
    op.drop_table("webhook_dispatch")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    for table in SOURCES:
        op.execute(f"DROP TRIGGER {table}_events ON {table}")
    op.drop_table("event_commits")
    op.drop_table("events")
    op.execute("DROP FUNCTION partnerhub_event_commit()")
    op.execute("DROP FUNCTION partnerhub_event()")
