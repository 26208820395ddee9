"""a webhook's filter as columns, matched by the dispatcher in SQL (issue 13, delivery CPU)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

``webhooks.filter`` stays as the partner wrote it (the API gives it back unchanged); its parsed
parts are kept beside it, set when the webhook is made (the filter cannot be changed
afterwards): ``filter_customer_id`` (``customerId=``), ``filter_status`` (``status=``) and
``filter_sub_partner_id`` (``onBehalfOfSubPartnerOrgId=``). The dispatcher matches a batch of
events against the active webhooks in the same statement that reads them, writes the
deliveries and moves its position: one statement a round instead of six.

Existing filters are parsed here, the way the API parsed them when it accepted them (the
parser is copied into this migration, so that a later change of the API's parser cannot change
what this step did); one that does not parse (none can be stored through the API) deactivates
its webhook, as the dispatcher used to skip it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from urllib.parse import parse_qsl

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KEYS = ("customerId", "status", "onBehalfOfSubPartnerOrgId")


def _id(kind: str, token: str) -> uuid.UUID | None:
    """The uuid of a PartnerHub id ``partnerhub://<region>/<KIND>/<uuid>`` (base64url)."""
    if not token or len(token) > 200:
        return None
    token = token.strip()
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
        parts = raw.decode("utf-8").split("/")
        if len(parts) == 5 and parts[:2] == ["partnerhub:", ""] and parts[3] == kind:
            return uuid.UUID(parts[4])
    except (binascii.Error, UnicodeError, ValueError):
        pass
    return None


def _parse(raw: str) -> tuple[uuid.UUID | None, str | None, uuid.UUID | None] | None:
    """(customer, status, sub-partner) of a stored filter; None when it does not parse."""
    values: dict[str, str] = {}
    for key, value in parse_qsl(raw.strip(), keep_blank_values=True):
        if key not in _KEYS or key in values or value == "":
            return None
        values[key] = value
    customer = sub = None
    if "customerId" in values and (customer := _id("CUSTOMER", values["customerId"])) is None:
        return None
    if "onBehalfOfSubPartnerOrgId" in values:
        if (sub := _id("ORGANIZATION", values["onBehalfOfSubPartnerOrgId"])) is None:
            return None
    return customer, values.get("status"), sub


def upgrade() -> None:
    op.add_column("webhooks", sa.Column("filter_customer_id", sa.Uuid(), nullable=True))
    op.add_column("webhooks", sa.Column("filter_status", sa.String(length=200), nullable=True))
    op.add_column("webhooks", sa.Column("filter_sub_partner_id", sa.Uuid(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, filter FROM webhooks WHERE filter IS NOT NULL"))
    for webhook_id, raw in rows.all():
        parsed = _parse(raw)
        if parsed is None:
            bind.execute(
                sa.text("UPDATE webhooks SET status = 'inactive' WHERE id = :id"),
                {"id": webhook_id},
            )
            continue
        bind.execute(
            sa.text(
                "UPDATE webhooks SET filter_customer_id = :c, filter_status = :s, "
                "filter_sub_partner_id = :p WHERE id = :id"
            ),
            {"id": webhook_id, "c": parsed[0], "s": parsed[1], "p": parsed[2]},
        )


def downgrade() -> None:
    op.drop_column("webhooks", "filter_sub_partner_id")
    op.drop_column("webhooks", "filter_status")
    op.drop_column("webhooks", "filter_customer_id")
