"""Webhook delivery: the dispatcher turns new events into deliveries, the sender POSTs them.

* **Dispatch** (:func:`dispatch`): reads the stream after its position (``webhook_dispatch``,
  locked: one dispatcher at a time) in commit order, matches each event against the active
  webhooks (partner, resource, event, filter) and writes one delivery per match, with the new
  position, in one transaction: an event is matched exactly once.
* **Send** (:func:`send_due`): leases the webhooks with a delivery due (``lease_until``,
  ``SKIP LOCKED``: several senders never share a webhook) and drains each one concurrently:
  its oldest pending delivery first, the next only once that one succeeded, so a receiver sees
  a webhook's events in stream order (hence in order per resource). A failure schedules the
  same delivery again (same ``webhook-id``) after an exponentially growing delay; past the
  retry window, or after too many consecutive failures, the webhook is deactivated and its
  partner's full administrators e-mailed. Each attempt is logged (status, latency, the start of
  the answer). The POSTs of a webhook go over its kept-alive connection
  (:class:`outbound.KeptAlive`, kept between batches by :class:`Connections`). A slow receiver
  costs its own lease only: one deadline per attempt, no transaction held while waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import ssl
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from partnerhub import ids
from partnerhub.config import Settings
from partnerhub.db import Checkout, Database
from partnerhub.events import repository as store
from partnerhub.events import service
from partnerhub.events.present import Owner, render
from partnerhub.events.repository import StoredEvent
from partnerhub.events.service import INACTIVE
from partnerhub.kit import outbound
from partnerhub.kit.schemas import iso_z
from partnerhub.models import Webhook, WebhookAttempt, WebhookDelivery
from partnerhub.notifications import service as notifications

log = logging.getLogger(__name__)

DISPATCH_BATCH = 500
SEND_BATCH = 200  # deliveries one lease may send
MAX_SENDERS = 50  # webhooks drained at once by one delivery loop
# Rounds of the loop start at least this far apart: every commit that wrote events notifies,
# and a round (dispatch and lease, then a claim and a record per webhook: a statement each)
# costs about the same for one new event as for 500, so at hundreds of commits a second the
# events of a gap share one round and one batch. Adds at most this much to the
# commit-to-receipt latency (docs/performance.md: p99 well under the 1 s wanted).
ROUND_GAP_SECONDS = 0.1
LEASE_SECONDS = 30.0
MAX_ANSWER_BYTES = 64 * 1024
EXCERPT_CHARS = 300


# --- the envelope and its signatures ---------------------------------------------------------


def actor_ref(actor_id: str | None) -> str | None:
    """The wire id of who made a change (a partner administrator), None for the hub's own."""
    if not actor_id:
        return None
    try:
        return ids.encode("PEOPLE", uuid.UUID(actor_id), ids.HUB)
    except ValueError:
        return actor_id


def webhook_fields(webhook: Webhook | store.Leased) -> dict[str, Any]:
    """The webhook's own fields of every envelope it sends (made once a batch)."""
    return {
        "id": ids.encode("WEBHOOK", webhook.id, ids.HUB),
        "name": webhook.name,
        "targetUrl": webhook.target_url,
        "filter": webhook.filter,
        "orgId": ids.encode("ORGANIZATION", webhook.partner_id, ids.HUB),
        "createdBy": ids.encode("PEOPLE", webhook.created_by, ids.HUB)
        if webhook.created_by
        else None,
        "appId": service.APP_ID,
        "ownedBy": webhook.owned_by,
        "status": webhook.status,
    }


def envelope(fields: dict[str, Any], event: StoredEvent) -> dict[str, Any]:
    """The body POSTed for ``event`` (docs/contract.md §8); ``fields``: :func:`webhook_fields`."""
    return {
        **fields,
        "resource": event.resource,
        "event": event.event,
        "actorId": actor_ref(event.actor_id),
        "created": iso_z(event.created),
        "data": render(event.resource, event.data, Owner(event.data_region, event.external_id)),
    }


def test_envelope(webhook: Webhook | store.Leased) -> dict[str, Any]:
    """The body of a "send test event": the webhook's own envelope with a ``test`` event."""
    return {
        **webhook_fields(webhook),
        "resource": webhook.resource,
        "event": "test",
        "actorId": None,
        "created": iso_z(datetime.now(UTC)),
        "data": {},
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(
    secret: str | None, message_id: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """The delivery's headers: ``webhook-id`` and ``webhook-timestamp`` always; with a secret,
    ``X-Spark-Signature`` (hex HMAC-SHA1 of the raw body) and ``webhook-signature``
    (``v1,`` base64 HMAC-SHA256 of ``id.timestamp.body``, keyed with the secret's UTF-8 bytes:
    ``standardwebhooks.Webhook(secret.encode())`` verifies it)."""
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "user-agent": "PartnerHub-Webhooks/1",
    }
    if secret:
        key = secret.encode()
        headers["X-Spark-Signature"] = hmac.new(key, body, hashlib.sha1).hexdigest()
        signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
    return headers


# --- dispatch ----------------------------------------------------------------------------


async def dispatch(db: Database, batch: int = DISPATCH_BATCH) -> int:
    """One dispatcher round, one statement (``repository.dispatch_round``): up to ``batch``
    new events matched against the active webhooks in commit order, a delivery written per
    match, the position moved past them; returns how many events were read."""
    async with Checkout(await db.autocommit()) as conn:
        read, _ = await store.dispatch_round(conn, batch)
    return read


# --- sending -----------------------------------------------------------------------------


def retry_delay(settings: Settings, attempts: int) -> float:
    return float(
        min(
            settings.webhook_retry_base_seconds * (2 ** max(attempts - 1, 0)),
            settings.webhook_retry_max_seconds,
        )
    )


class Connections:
    """The kept-alive connections of one delivery loop (or one :func:`send_due`), one per
    webhook: a lease gives a webhook to one sender at a time, which takes its connection for
    the batch and gives it back. A connection unused for ``IDLE_SECONDS``, or whose webhook's
    URL changed, is closed."""

    IDLE_SECONDS = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.idle: dict[uuid.UUID, tuple[outbound.KeptAlive, float]] = {}

    def take(self, webhook_ref: uuid.UUID, url: str) -> outbound.KeptAlive:
        kept = self.idle.pop(webhook_ref, None)
        if kept is not None:
            if kept[0].url == url:
                return kept[0]
            kept[0].close()
        return outbound.KeptAlive(
            url,
            allow_private=self.settings.webhook_allow_private_addresses,
            deadline_seconds=self.settings.webhook_timeout_seconds,
            max_bytes=MAX_ANSWER_BYTES,
        )

    def give(self, webhook_ref: uuid.UUID, connection: outbound.KeptAlive) -> None:
        if connection.open:
            self.idle[webhook_ref] = (connection, time.monotonic())

    def close_idle(self) -> None:
        now = time.monotonic()
        for webhook_ref, (connection, since) in list(self.idle.items()):
            if now - since > self.IDLE_SECONDS:
                del self.idle[webhook_ref]
                connection.close()

    def close(self) -> None:
        for connection, _ in self.idle.values():
            connection.close()
        self.idle.clear()


async def _post(
    connection: outbound.KeptAlive, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None, str | None]:
    """(status code, error, excerpt of the answer); the whole attempt within the deadline."""
    try:
        answer = await connection.post(body, headers)
    except outbound.OutboundError as exc:
        return None, str(exc)[:300] or exc.__class__.__name__, None
    except (OSError, ssl.SSLError) as exc:
        return None, (f"{exc.__class__.__name__}: {exc}")[:300], None
    excerpt = answer.body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
    return answer.status, None, excerpt


async def _deactivate(
    session: Any, webhook: Webhook, delivery: WebhookDelivery, error: str, since: datetime
) -> None:
    webhook.status = INACTIVE
    webhook.deactivated = datetime.now(UTC)
    for email, language in await store.full_admins(session, webhook.partner_id):
        lang = notifications.pick_language("webhook_deactivated", language)
        await notifications.queue(
            session,
            partner_id=webhook.partner_id,
            customer_id=None,
            dedupe_key=f"webhook-deactivated:{webhook.id}:{webhook.deactivated.isoformat()}:{email}",
            kind="webhook_deactivated",
            to=email,
            language=lang,
            context={
                "webhook_name": webhook.name,
                "target_url": webhook.target_url,
                "attempts": webhook.failures,
                "since": iso_z(since),
                "last_error": error,
            },
        )
    log.warning("webhook %s deactivated after %s failed attempts", webhook.id, webhook.failures)


Sent = tuple[uuid.UUID, int, int, str | None, datetime]
Failed = tuple[uuid.UUID, int | None, str | None, str | None, int, datetime]


async def _send_batch(
    connection: outbound.KeptAlive,
    secret: str | None,
    outgoing: list[tuple[uuid.UUID, dict[str, Any]]],
    lease_end: float,
) -> tuple[list[Sent], Failed | None]:
    """POST the batch in order over the webhook's kept-alive connection, up to the first
    failure."""
    done: list[Sent] = []
    for delivery_id, payload in outgoing:
        if time.monotonic() > lease_end:  # the rest in the next lease
            break
        body = body_of(payload)
        message_id = f"msg_{delivery_id.hex}"
        headers = signed_headers(secret, message_id, body, int(time.time()))
        at = datetime.now(UTC)
        began = time.monotonic()
        code, error, excerpt = await _post(connection, body, headers)
        latency = int((time.monotonic() - began) * 1000)
        if code is not None and 200 <= code < 300:
            done.append((delivery_id, code, latency, excerpt, at))
            continue
        return done, (delivery_id, code, error, excerpt, latency, at)
    return done, None


def lease_seconds(settings: Settings) -> float:
    """How long a sender holds a webhook: a batch stops starting attempts in time to end
    within it, and a crashed sender's webhooks are free again after it."""
    return max(LEASE_SECONDS, 3 * settings.webhook_timeout_seconds + 10)


async def _record_failure(
    settings: Settings,
    webhook_ref: uuid.UUID,
    delivery_id: uuid.UUID,
    code: int | None,
    error: str | None,
    excerpt: str | None,
    latency: int,
    at: datetime,
    session: Any,
) -> None:
    """A failed attempt: logged, the same delivery scheduled again after a growing delay;
    past the retry window or the failure limit the webhook is deactivated."""
    webhook = await store.webhook_by_id(session, webhook_ref)
    delivery_row = await session.get(
        WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    if webhook is None or delivery_row is None or delivery_row.status != "pending":
        return
    store.add_attempt(
        session,
        WebhookAttempt(
            delivery_id=delivery_id,
            webhook_id=webhook_ref,
            at=at,
            status_code=code,
            error=error,
            latency_ms=latency,
            response_excerpt=excerpt,
        ),
    )
    delivery_row.attempts += 1
    now = datetime.now(UTC)
    webhook.failures += 1
    since = await store.first_attempt(session, delivery_id) or at
    since = min(since, at)
    delivery_row.next_attempt = now + timedelta(
        seconds=retry_delay(settings, delivery_row.attempts)
    )
    window = (now - since).total_seconds() >= settings.webhook_retry_window_seconds
    limit = settings.webhook_failure_limit
    if window:
        delivery_row.status = "failed"
        delivery_row.finished = now
    if window or (limit and webhook.failures >= limit):
        await _deactivate(session, webhook, delivery_row, error or f"HTTP {code}", since)


async def drain(
    db: Database, settings: Settings, webhook: store.Leased, connections: Connections
) -> int:
    """Send the leased webhook's due deliveries in order; returns how many succeeded.

    One statement claims a batch (the pending deliveries with their events), the batch goes out
    in order over the webhook's kept-alive connection (``connections``), stopping at the first
    failure (the next only once the previous one succeeded), and one statement records the
    successes and ends the lease; a failure (its retry or the deactivation) is recorded in a
    transaction of its own, and the lease ended after it. A crash in between sends the batch again,
    with the same ``webhook-id``s."""
    lease_end = time.monotonic() + lease_seconds(settings) - settings.webhook_timeout_seconds - 5
    pool = await db.autocommit()
    done: list[Sent] = []
    purged: list[uuid.UUID] = []
    failure: Failed | None = None
    released = False
    try:
        async with Checkout(pool) as conn:
            batch = await store.due_batch(conn, webhook.id, SEND_BATCH)
        fields = webhook_fields(webhook)
        outgoing: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for item in batch:
            if not item.due:
                break
            if item.event_id is None:
                outgoing.append((item.id, item.payload or test_envelope(webhook)))
            elif item.event is None:  # purged: nothing left to send
                purged.append(item.id)
            else:
                outgoing.append((item.id, envelope(fields, item.event)))
        if outgoing:
            connection = connections.take(webhook.id, webhook.target_url)
            try:
                done, failure = await _send_batch(connection, webhook.secret, outgoing, lease_end)
            finally:
                connections.give(webhook.id, connection)
        settled = failure is None and not purged
        if done:
            async with Checkout(pool) as conn:
                await store.record_delivered(conn, webhook.id, done, release=settled)
            released = settled
        if not settled:
            async with db.transaction() as session:
                if purged:
                    await store.mark_failed(session, purged)
                if failure is not None:
                    await _record_failure(settings, webhook.id, *failure, session=session)
        return len(done)
    finally:
        if not released:  # (the lease ends with the record of the successes, or here)
            try:
                async with Checkout(pool) as conn:
                    await store.release(conn, webhook.id)
            except Exception:  # the lease runs out by itself
                log.warning("webhook %s: lease not released", webhook.id)


async def _lease(db: Database, settings: Settings, limit: int) -> list[store.Leased]:
    async with Checkout(await db.autocommit()) as conn:
        return await store.lease_due_webhooks(conn, lease_seconds(settings), limit)


async def send_due(db: Database, settings: Settings, limit: int = MAX_SENDERS) -> int:
    """One sender round: every webhook with a delivery due, drained concurrently (one batch
    each)."""
    leased = await _lease(db, settings, limit)
    if not leased:
        return 0
    connections = Connections(settings)
    try:
        results = await asyncio.gather(
            *(drain(db, settings, w, connections) for w in leased), return_exceptions=True
        )
    finally:
        connections.close()
    total = 0
    for webhook, result in zip(leased, results, strict=True):
        if isinstance(result, BaseException):
            log.error("webhook %s: delivery round failed: %r", webhook.id, result)
        else:
            total += result
    return total


class Waker:
    """LISTEN partnerhub_events on a connection of its own (the commit-order trigger NOTIFYs
    at every commit that wrote events): :meth:`wait` returns at a notification, at the end
    of a sender task, or after the poll interval (retries due, a lost listener)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute("LISTEN partnerhub_events")
                    self.event.set()  # anything committed while not listening
                    async for _ in conn.notifies():
                        self.event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhook listener lost (%r); polling until it is back", exc)
                await asyncio.sleep(5.0)

    def start(self) -> None:
        self.task = asyncio.create_task(self._listen(), name="webhook-listener")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def wait(self, seconds: float, senders: set[asyncio.Task[int]]) -> None:
        waiter = asyncio.create_task(self.event.wait())
        try:
            await asyncio.wait({waiter, *senders}, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        self.event.clear()


async def run(db: Database, settings: Settings, seconds: float | None = None) -> None:
    """The delivery loop, for ``seconds`` (the periodic job) or until cancelled: dispatch the
    new events, lease the webhooks with a delivery due and drain each in a task of its own
    (at most ``MAX_SENDERS`` at once: a slow receiver never holds back the others nor the
    dispatcher), then wait for a commit's notification, a finished sender or
    ``webhook_poll_seconds``; a round starts at least ``ROUND_GAP_SECONDS`` after the
    previous one."""
    deadline = None if seconds is None else time.monotonic() + seconds
    waker = Waker(db.url)
    if settings.worker_listen:  # not through a transaction pooler (PgBouncer): poll only
        waker.start()
    senders: set[asyncio.Task[int]] = set()
    connections = Connections(settings)
    round_started = -ROUND_GAP_SECONDS
    try:
        while deadline is None or time.monotonic() < deadline:
            await asyncio.sleep(max(0.0, round_started + ROUND_GAP_SECONDS - time.monotonic()))
            round_started = time.monotonic()
            while await dispatch(db) >= DISPATCH_BATCH:
                pass
            room = MAX_SENDERS - len(senders)
            if room > 0:
                for webhook in await _lease(db, settings, room):
                    senders.add(asyncio.create_task(drain(db, settings, webhook, connections)))
            connections.close_idle()
            wait = settings.webhook_poll_seconds
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            await waker.wait(wait, senders)
            for task in [t for t in senders if t.done()]:
                senders.discard(task)
                if not task.cancelled() and task.exception() is not None:
                    log.error("webhook delivery round failed: %r", task.exception())
    finally:
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        connections.close()
        await waker.stop()


async def send_test(repo: Any, raw_id: str) -> uuid.UUID:
    """The "send test event" of the API and the portal: the caller's webhook ``raw_id`` (a
    ``WebhookRepository``'s, 404 otherwise) gets a test event, recorded in the audit log."""
    webhook = await service.get(repo, raw_id, manage=True)
    delivery_id = await queue_test(repo.session, webhook)
    service.record_test(repo, webhook)
    return delivery_id


async def queue_test(session: Any, webhook: Webhook) -> uuid.UUID:
    """A "send test event": a delivery of :func:`test_envelope`, sent before the webhook's
    waiting events."""
    delivery_id = uuid.uuid4()
    session.add(
        WebhookDelivery(
            id=delivery_id,
            webhook_id=webhook.id,
            event_id=None,
            position=0,
            payload=test_envelope(webhook),
        )
    )
    await session.flush()
    return delivery_id
