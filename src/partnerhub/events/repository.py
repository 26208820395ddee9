"""All SQL of the event stream, its feed and the webhooks.

The feed and the webhooks go through the acting partner (``Repository.scoped``); the
dispatcher and the sender (``DeliveryRepository``) are the hub's own work over every partner's
webhooks and events — deliberately global, like the outbox's sender."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import Customer, Partner, Webhook, WebhookAttempt, WebhookDelivery


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    id: int
    resource: str
    event: str
    resource_id: uuid.UUID
    partner_id: uuid.UUID
    parent_partner_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    actor_id: str | None
    tracking_id: str | None
    data: dict[str, Any]
    created: datetime
    data_region: str | None
    external_id: str | None


# Commit order first (event_commits.position), then the order inside the transaction. The
# first condition lets the primary key of event_commits start the scan at the cursor: the row
# comparison alone, over two tables, made every page read the whole stream.
_EVENTS = """
SELECT c.position, e.id, e.resource, e.event, e.resource_id, e.partner_id,
       e.parent_partner_id, e.customer_id,
       e.actor_id, e.tracking_id, e.data, e.created, u.data_region, u.external_id
FROM event_commits c
JOIN events e ON e.txid = c.txid
LEFT JOIN usage_customers u ON u.customer_id = e.customer_id
WHERE c.position >= :position AND (c.position, e.id) > (:position, :event_id) {where}
ORDER BY c.position, e.id
LIMIT :max
"""


def events_query(
    position: int,
    event_id: int,
    max_: int,
    *,
    partner_id: uuid.UUID | None = None,
    resources: list[str] | None = None,
    customer_id: uuid.UUID | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of a feed page: the events after the cursor, of a partner, of
    some resources, of a customer."""
    where = []
    params: dict[str, Any] = {"position": position, "event_id": event_id, "max": max_}
    if partner_id is not None:
        where.append("AND e.partner_id = :partner")
        params["partner"] = partner_id
    if resources is not None:
        where.append("AND e.resource = ANY(:resources)")
        params["resources"] = resources
    if customer_id is not None:
        where.append("AND e.customer_id = :customer")
        params["customer"] = customer_id
    return _EVENTS.format(where=" ".join(where)), params


class EventRepository(Repository):
    async def feed(
        self,
        position: int,
        event_id: int,
        max_: int,
        resources: list[str],
        customer_id: uuid.UUID | None,
    ) -> list[StoredEvent]:
        sql, params = events_query(
            position,
            event_id,
            max_,
            partner_id=self.principal.partner_id,
            resources=resources,
            customer_id=customer_id,
        )
        rows = await self.session.execute(text(sql), params)
        return [StoredEvent(*row) for row in rows]


class WebhookRepository(Repository):
    async def page(self, offset: int, fetch: int, resources: list[str]) -> list[Webhook]:
        """The acting partner's webhooks of ``resources``, oldest first."""
        stmt = (
            self.scoped(select(Webhook), Webhook)
            .where(Webhook.resource.in_(resources))
            .order_by(Webhook.created, Webhook.id)
        )
        return list((await self.session.scalars(stmt.offset(offset).limit(fetch))).all())

    async def get(self, webhook_id: uuid.UUID | None, for_update: bool = False) -> Webhook:
        return await self.get_or_404(
            Webhook, webhook_id, "Webhook not found", for_update=for_update
        )

    async def sub_partner(self, sub_id: uuid.UUID) -> Partner | None:
        stmt = select(Partner).where(
            Partner.id == sub_id, Partner.parent_id == self.principal.partner_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def has_customer(self, customer_id: uuid.UUID) -> bool:
        stmt = self.scoped(select(Customer.id).where(Customer.id == customer_id), Customer)
        return (await self.session.scalar(stmt)) is not None

    def add(self, webhook: Webhook) -> None:
        self.session.add(webhook)

    async def stream_position(self) -> int:
        """The last commit position: everything committed later has a higher one."""
        value = await self.session.scalar(
            text("SELECT coalesce(max(position), 0) FROM event_commits")
        )
        return int(value or 0)

    async def remove(self, webhook: Webhook) -> None:
        await self.session.execute(delete(Webhook).where(Webhook.id == webhook.id))

    async def flush(self) -> None:
        await self.session.flush()

    async def attempts(
        self, webhook: Webhook, offset: int, fetch: int
    ) -> list[tuple[WebhookAttempt, WebhookDelivery, int]]:
        """The webhook's attempts, newest first, with their delivery and the attempt's number."""
        number = (
            select(text("count(*)"))
            .select_from(WebhookAttempt.__table__.alias("earlier"))
            .where(text("earlier.delivery_id = webhook_attempts.delivery_id"))
            .where(text("earlier.id <= webhook_attempts.id"))
            .scalar_subquery()
        )
        stmt = (
            select(WebhookAttempt, WebhookDelivery, number)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(WebhookAttempt.webhook_id == webhook.id)
            .order_by(WebhookAttempt.id.desc())
            .offset(offset)
            .limit(fetch)
        )
        rows = await self.session.execute(stmt)
        return [(a, d, int(n)) for a, d, n in rows]

    async def add_test_delivery(self, webhook: Webhook, payload: dict[str, Any]) -> uuid.UUID:
        delivery_id = uuid.uuid4()
        self.session.add(
            WebhookDelivery(
                id=delivery_id, webhook_id=webhook.id, event_id=None, position=0, payload=payload
            )
        )
        await self.session.flush()
        return delivery_id


# --- the dispatcher and the sender (the hub's own work: every partner's webhooks) ----------


# A webhook owned by its creator (``owned_by = 'creator'``) lives with its maker's authority:
# the administrator who made it (in the portal) still active, or the token it was made with
# still unrevoked and unexpired, and that token's administrator (if any: an operator's token has
# none) still active. Otherwise no event is queued for it and nothing of it is sent, until the
# maker is active again (docs/events.md, "Webhooks"). An ``org`` webhook is the partner's own,
# and a webhook without a maker (made by the hub) has no one to outlive. Primary-key look-ups
# only.
MAKER_HOLDS = """
    (w.owned_by <> 'creator' OR w.created_by IS NULL
     OR EXISTS (SELECT 1 FROM partner_admins a WHERE a.id = w.created_by AND a.active)
     OR EXISTS (SELECT 1 FROM api_tokens t LEFT JOIN partner_admins a ON a.id = t.created_by
                WHERE t.id = w.created_by AND t.revoked IS NULL
                  AND (t.expires IS NULL OR t.expires > now())
                  AND (t.created_by IS NULL OR a.active)))"""


# The dispatcher's round, one statement: lock its position (one dispatcher at a time), read the
# next events in commit order, match them against the active webhooks (resource, event, start
# position, partner or sub-partner, customer, status: the filter's columns), write one delivery
# per match and move the position past the batch. (The status an event is matched on is the
# first of ``status``, ``state``, ``provisioning_state`` its data has.) The scalar
# ``c.position >= (SELECT position FROM pos)`` starts the scan of event_commits' primary key at
# the position; the row comparison alone read the whole stream at every round (94 ms at
# 30,000 events, against 0.2 ms).
_DISPATCH = (
    """
WITH pos AS (
    SELECT position, event_id FROM webhook_dispatch WHERE id = 1 FOR UPDATE),
ev AS (
    SELECT c.position, e.id, e.resource, e.event, e.partner_id, e.parent_partner_id,
           e.customer_id,
           CASE WHEN e.data ? 'status' THEN e.data->>'status'
                WHEN e.data ? 'state' THEN e.data->>'state'
                WHEN e.data ? 'provisioning_state' THEN e.data->>'provisioning_state' END
               AS status
    FROM pos, event_commits c JOIN events e ON e.txid = c.txid
    WHERE c.position >= (SELECT position FROM pos)
      AND (c.position, e.id) > (pos.position, pos.event_id)
    ORDER BY c.position, e.id
    LIMIT %(max)s),
matched AS (
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, position)
    SELECT gen_random_uuid(), w.id, ev.id, ev.position
    FROM ev JOIN webhooks w
      ON w.status = 'active' AND w.resource = ev.resource AND ev.position > w.start_position
     AND (w.event = 'all' OR w.event = ev.event)
     AND CASE WHEN w.filter_sub_partner_id IS NULL THEN ev.partner_id = w.partner_id
              ELSE ev.partner_id = w.filter_sub_partner_id
                   AND ev.parent_partner_id = w.partner_id END
     AND (w.filter_customer_id IS NULL OR ev.customer_id = w.filter_customer_id)
     AND (w.filter_status IS NULL OR ev.status = w.filter_status)
     AND """  # noqa: S608 - a fixed fragment (MAKER_HOLDS), every value a parameter
    + MAKER_HOLDS
    + """
    ON CONFLICT (webhook_id, event_id) DO NOTHING
    RETURNING 1),
last AS (
    SELECT position, id FROM ev ORDER BY position DESC, id DESC LIMIT 1),
moved AS (
    UPDATE webhook_dispatch d SET position = last.position, event_id = last.id
    FROM last WHERE d.id = 1
    RETURNING 1)
SELECT (SELECT count(*) FROM pos), (SELECT count(*) FROM ev), (SELECT count(*) FROM matched)
"""
)


async def dispatch_round(conn: AsyncConnection[Any], max_: int) -> tuple[int, int]:
    """One dispatcher round on an autocommit connection (its own transaction): (events read,
    deliveries written)."""
    for _ in range(2):
        cursor = await conn.execute(_DISPATCH, {"max": max_})
        row = await cursor.fetchone()
        assert row is not None
        if row[0]:
            return int(row[1]), int(row[2])
        await conn.execute(  # the position row (made by migration 0015; tests empty tables)
            "INSERT INTO webhook_dispatch (id, position, event_id) VALUES (1, 0, 0) "
            "ON CONFLICT (id) DO NOTHING"
        )
    return 0, 0


@dataclass(frozen=True, slots=True)
class Leased:
    """A webhook leased to this sender, with what its deliveries need."""

    id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    filter: str | None
    created_by: uuid.UUID | None
    owned_by: str
    status: str
    resource: str
    target_url: str
    secret: str | None


async def lease_due_webhooks(
    conn: AsyncConnection[Any], seconds: float, limit: int
) -> list[Leased]:
    """Webhooks with a delivery due and no sender on them, leased to this sender (one
    autocommit statement)."""
    cursor = await conn.execute(
        """
        UPDATE webhooks SET lease_until = now() + make_interval(secs => %(seconds)s)
        WHERE id IN (
            SELECT w.id FROM webhooks w
            WHERE w.status = 'active' AND (w.lease_until IS NULL OR w.lease_until < now())
              AND """  # noqa: S608 - a fixed fragment (MAKER_HOLDS), every value a parameter
        + MAKER_HOLDS
        + """
              AND EXISTS (SELECT 1 FROM webhook_deliveries d
                          WHERE d.webhook_id = w.id AND d.status = 'pending'
                            AND d.next_attempt <= now())
            ORDER BY w.id
            FOR UPDATE SKIP LOCKED
            LIMIT %(limit)s)
        RETURNING id, partner_id, name, filter, created_by, owned_by, status, resource,
                  target_url, secret
        """,
        {"seconds": seconds, "limit": limit},
    )
    return [Leased(*row) for row in await cursor.fetchall()]


async def mark_failed(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> None:
    """Deliveries whose event was purged: nothing left to send."""
    await session.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'failed', finished = now() "
            "WHERE id = ANY(:ids) AND status = 'pending'"
        ),
        {"ids": delivery_ids},
    )


async def release(conn: AsyncConnection[Any], webhook_id: uuid.UUID) -> None:
    await conn.execute("UPDATE webhooks SET lease_until = NULL WHERE id = %s", (webhook_id,))


async def webhook_by_id(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook | None:
    return await session.get(Webhook, webhook_id, populate_existing=True)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A pending delivery of a batch, with its event (None: a test event, or purged)."""

    id: uuid.UUID
    event_id: int | None
    payload: dict[str, Any] | None
    due: bool
    event: StoredEvent | None


_DUE = """
SELECT d.id, d.event_id, d.payload, d.next_attempt <= now(),
       c.position, e.id, e.resource, e.event, e.resource_id, e.partner_id,
       e.parent_partner_id, e.customer_id,
       e.actor_id, e.tracking_id, e.data, e.created, u.data_region, u.external_id
FROM webhook_deliveries d
LEFT JOIN events e ON e.id = d.event_id
LEFT JOIN event_commits c ON c.txid = e.txid
LEFT JOIN usage_customers u ON u.customer_id = e.customer_id
WHERE d.webhook_id = %(webhook)s AND d.status = 'pending'
ORDER BY d.position, d.event_id NULLS FIRST, d.created
LIMIT %(max)s
"""


async def due_batch(
    conn: AsyncConnection[Any], webhook_id: uuid.UUID, max_: int
) -> list[DueDelivery]:
    """The webhook's oldest pending deliveries in stream order (test events first), with their
    events, in one statement; the caller sends them up to the first one not due yet."""
    cursor = await conn.execute(_DUE, {"webhook": webhook_id, "max": max_})
    batch = []
    for row in await cursor.fetchall():
        event = StoredEvent(*row[4:]) if row[5] is not None else None
        batch.append(DueDelivery(row[0], row[1], row[2], bool(row[3]), event))
    return batch


async def record_delivered(
    conn: AsyncConnection[Any],
    webhook_id: uuid.UUID,
    done: list[tuple[uuid.UUID, int, int, str | None, datetime]],
    release: bool,
) -> None:
    """Deliveries answered 2xx, ``(id, status code, latency ms, excerpt, at)``: marked
    delivered, their attempts logged and the webhook's failure count reset; with ``release``
    the lease ends too. One autocommit statement."""
    ids_, codes, latencies, excerpts, ats = (list(column) for column in zip(*done, strict=True))
    await conn.execute(
        """
        WITH sent AS (
            SELECT * FROM unnest(%(ids)s::uuid[], %(codes)s::int[], %(latencies)s::int[],
                                 %(excerpts)s::text[], %(ats)s::timestamptz[])
                AS s(id, code, latency, excerpt, at)),
        marked AS (
            UPDATE webhook_deliveries d
            SET status = 'delivered', attempts = d.attempts + 1, finished = sent.at
            FROM sent WHERE d.id = sent.id AND d.status = 'pending'
            RETURNING d.id),
        webhook AS (
            UPDATE webhooks SET failures = 0,
                lease_until = CASE WHEN %(release)s THEN NULL ELSE lease_until END
            WHERE id = %(webhook)s)
        INSERT INTO webhook_attempts
            (delivery_id, webhook_id, at, status_code, latency_ms, response_excerpt)
        SELECT sent.id, %(webhook)s, sent.at, sent.code, sent.latency, sent.excerpt
        FROM sent JOIN marked ON marked.id = sent.id
        ORDER BY sent.at
        """,
        {
            "webhook": webhook_id,
            "ids": ids_,
            "codes": codes,
            "latencies": latencies,
            "excerpts": excerpts,
            "ats": ats,
            "release": release,
        },
    )


async def first_attempt(session: AsyncSession, delivery_id: uuid.UUID) -> datetime | None:
    stmt = (
        select(text("min(at)"))
        .select_from(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
    )
    value: datetime | None = (await session.execute(stmt)).scalar_one()
    return value


def add_attempt(session: AsyncSession, attempt: WebhookAttempt) -> None:
    session.add(attempt)


async def full_admins(session: AsyncSession, partner_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await session.execute(
        text(
            "SELECT email, language FROM partner_admins "
            "WHERE partner_id = :p AND role = 'full_admin' AND active ORDER BY email"
        ),
        {"p": partner_id},
    )
    return [(row[0], row[1]) for row in rows]


async def purge(session: AsyncSession, days: int) -> int:
    """Events, their commit numbers and finished deliveries older than ``days``; never one the
    dispatcher has not read yet."""
    params = {"days": days}
    await session.execute(
        text(
            "DELETE FROM webhook_deliveries WHERE status <> 'pending' "
            "AND created < now() - make_interval(days => :days)"
        ),
        params,
    )
    result = await session.execute(
        text(
            """
            WITH old AS (
                DELETE FROM event_commits c
                WHERE c.committed < now() - make_interval(days => :days)
                  AND c.position < coalesce((SELECT position FROM webhook_dispatch), 0)
                RETURNING txid)
            DELETE FROM events e USING old WHERE e.txid = old.txid
            """
        ),
        params,
    )
    return int(getattr(result, "rowcount", 0) or 0)
