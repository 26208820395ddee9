"""wake the webhook sender on commit: NOTIFY partnerhub_events (issue 13, delivery latency)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

The commit-order trigger (``partnerhub_event_commit``, once per transaction that wrote
events) also sends ``NOTIFY partnerhub_events``: PostgreSQL delivers it when the transaction
commits (never for a rollback), and the delivery loop, which LISTENs, dispatches at once
instead of waiting for its next poll. Commits that write events already serialize on the
commit-order lock, so the notification queue's own commit lock adds no new wait.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BODY = r"""
CREATE OR REPLACE FUNCTION partnerhub_event_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('partnerhub.event_commit', true) = 'numbered' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('partnerhub.event_commit', 'numbered', true);
    -- Held until the commit is visible: numbers are taken in commit order.
    PERFORM pg_advisory_xact_lock(7306013);
    INSERT INTO event_commits (txid) VALUES (pg_current_xact_id()::text::bigint)
        ON CONFLICT DO NOTHING;%s
    RETURN NULL;
END $$;
"""

NOTIFY = """
    -- Sent at the commit (not at all on a rollback): wakes the webhook delivery loop.
    PERFORM pg_notify('partnerhub_events', '');"""


def upgrade() -> None:
    op.execute(BODY % NOTIFY)


def downgrade() -> None:
    op.execute(BODY % "")
