"""All SQL of the event stream, its feed and the webhooks.

The feed and the webhooks go through the acting partner (``Repository.scoped``); the
dispatcher and the sender (``DeliveryRepository``) are the hub's own work over every partner's
webhooks and events — deliberately global, like the outbox's sender."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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

    @property
    def cursor(self) -> str:
        return f"{self.position}.{self.id}"


# Commit order first (event_commits.position), then the order inside the transaction.
_EVENTS = """
SELECT c.position, e.id, e.resource, e.event, e.resource_id, e.partner_id,
       e.parent_partner_id, e.customer_id,
       e.actor_id, e.tracking_id, e.data, e.created, u.data_region, u.external_id
FROM event_commits c
JOIN events e ON e.txid = c.txid
LEFT JOIN usage_customers u ON u.customer_id = e.customer_id
WHERE {start} {where}
ORDER BY c.position, e.id
LIMIT :max
"""


async def read_events(
    session: AsyncSession,
    position: int,
    event_id: int,
    max_: int,
    *,
    partner_id: uuid.UUID | None = None,
    resources: list[str] | None = None,
    customer_id: uuid.UUID | None = None,
) -> list[StoredEvent]:
    where = []
    params: dict[str, Any] = {"position": position, "event_id": event_id, "max": max_}
    start = "(c.position, e.id) > (:position, :event_id)"
    if partner_id is not None:
        where.append("AND e.partner_id = :partner")
        params["partner"] = partner_id
    if resources is not None:
        where.append("AND e.resource = ANY(:resources)")
        params["resources"] = resources
    if customer_id is not None:
        where.append("AND e.customer_id = :customer")
        params["customer"] = customer_id
    rows = await session.execute(text(_EVENTS.format(start=start, where=" ".join(where))), params)
    return [StoredEvent(*row) for row in rows]


class EventRepository(Repository):
    async def feed(
        self,
        position: int,
        event_id: int,
        max_: int,
        resources: list[str],
        customer_id: uuid.UUID | None,
    ) -> list[StoredEvent]:
        return await read_events(
            self.session,
            position,
            event_id,
            max_,
            partner_id=self.principal.partner_id,
            resources=resources,
            customer_id=customer_id,
        )


class WebhookRepository(Repository):
    async def page(self, offset: int, fetch: int) -> list[Webhook]:
        stmt = self.scoped(select(Webhook), Webhook).order_by(Webhook.created, Webhook.id)
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


async def dispatch_position(session: AsyncSession) -> tuple[int, int]:
    """The dispatcher's position in the stream, locked until the transaction ends (one
    dispatcher at a time)."""
    await session.execute(
        text(
            "INSERT INTO webhook_dispatch (id, position, event_id) VALUES (1, 0, 0) "
            "ON CONFLICT (id) DO NOTHING"
        )
    )
    row = (
        await session.execute(
            text("SELECT position, event_id FROM webhook_dispatch WHERE id = 1 FOR UPDATE")
        )
    ).one()
    return int(row[0]), int(row[1])


async def set_dispatch_position(session: AsyncSession, position: int, event_id: int) -> None:
    await session.execute(
        text("UPDATE webhook_dispatch SET position = :p, event_id = :e WHERE id = 1"),
        {"p": position, "e": event_id},
    )


async def active_webhooks(session: AsyncSession, resources: set[str]) -> list[Webhook]:
    stmt = select(Webhook).where(Webhook.status == "active", Webhook.resource.in_(resources))
    return list((await session.scalars(stmt)).all())


async def add_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(
            text(
                "INSERT INTO webhook_deliveries (id, webhook_id, event_id, position) "
                "VALUES (:id, :webhook_id, :event_id, :position) "
                "ON CONFLICT (webhook_id, event_id) DO NOTHING"
            ),
            rows,
        )


async def lease_due_webhooks(session: AsyncSession, seconds: float, limit: int) -> list[uuid.UUID]:
    """Webhooks with a delivery due and no sender on them, leased to this sender."""
    rows = await session.execute(
        text(
            """
            UPDATE webhooks SET lease_until = now() + make_interval(secs => :seconds)
            WHERE id IN (
                SELECT w.id FROM webhooks w
                WHERE w.status = 'active' AND (w.lease_until IS NULL OR w.lease_until < now())
                  AND EXISTS (SELECT 1 FROM webhook_deliveries d
                              WHERE d.webhook_id = w.id AND d.status = 'pending'
                                AND d.next_attempt <= now())
                ORDER BY w.id
                FOR UPDATE SKIP LOCKED
                LIMIT :limit)
            RETURNING id
            """
        ),
        {"seconds": seconds, "limit": limit},
    )
    return [row[0] for row in rows]


async def mark_failed(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> None:
    """Deliveries whose event was purged: nothing left to send."""
    await session.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'failed', finished = now() "
            "WHERE id = ANY(:ids) AND status = 'pending'"
        ),
        {"ids": delivery_ids},
    )


async def release(session: AsyncSession, webhook_id: uuid.UUID) -> None:
    await session.execute(
        text("UPDATE webhooks SET lease_until = NULL WHERE id = :id"), {"id": webhook_id}
    )


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
WHERE d.webhook_id = :webhook AND d.status = 'pending'
ORDER BY d.position, d.event_id NULLS FIRST, d.created
LIMIT :max
"""


async def due_batch(session: AsyncSession, webhook_id: uuid.UUID, max_: int) -> list[DueDelivery]:
    """The webhook's oldest pending deliveries in stream order (test events first), with their
    events, in one statement; the caller sends them up to the first one not due yet."""
    rows = await session.execute(text(_DUE), {"webhook": webhook_id, "max": max_})
    batch = []
    for row in rows:
        event = StoredEvent(*row[4:]) if row[5] is not None else None
        batch.append(DueDelivery(row[0], row[1], row[2], bool(row[3]), event))
    return batch


async def record_delivered(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    done: list[tuple[uuid.UUID, int, int, str | None, datetime]],
) -> None:
    """Deliveries answered 2xx, ``(id, status code, latency ms, excerpt, at)``: marked
    delivered and their attempts logged, in one statement; the webhook's failure count reset."""
    if not done:
        return
    ids_, codes, latencies, excerpts, ats = (list(column) for column in zip(*done, strict=True))
    await session.execute(
        text(
            """
            WITH sent AS (
                SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS int[]),
                                     CAST(:latencies AS int[]), CAST(:excerpts AS text[]),
                                     CAST(:ats AS timestamptz[]))
                    AS s(id, code, latency, excerpt, at)),
            marked AS (
                UPDATE webhook_deliveries d
                SET status = 'delivered', attempts = d.attempts + 1, finished = sent.at
                FROM sent WHERE d.id = sent.id AND d.status = 'pending'
                RETURNING d.id),
            reset AS (
                UPDATE webhooks SET failures = 0 WHERE id = :webhook AND failures <> 0)
            INSERT INTO webhook_attempts
                (delivery_id, webhook_id, at, status_code, latency_ms, response_excerpt)
            SELECT sent.id, :webhook, sent.at, sent.code, sent.latency, sent.excerpt
            FROM sent JOIN marked ON marked.id = sent.id
            ORDER BY sent.at
            """
        ),
        {
            "webhook": webhook_id,
            "ids": ids_,
            "codes": codes,
            "latencies": latencies,
            "excerpts": excerpts,
            "ats": ats,
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
