"""The rules of the event feed and of webhooks (docs/events.md)."""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog.roles import ADMIN_SCOPE, SUB_PARTNERS_READ
from partnerhub.errors import ApiError, Forbidden, InvalidValue, ValidationFailed
from partnerhub.events.repository import EventRepository, StoredEvent, WebhookRepository
from partnerhub.identity import keys
from partnerhub.kit import outbound
from partnerhub.kit.scope import Principal
from partnerhub.models import Webhook

# The resources of the stream and the scope that reads each (a feed shows, a webhook
# receives, only what its caller may read).
READ_SCOPES: dict[str, str] = {
    "wholesaleCustomers": "spark-admin:wholesale_customers_read",
    "wholesaleSubscribers": "spark-admin:wholesale_subscribers_read",
    "subscriberImports": "spark-admin:wholesale_subscribers_read",
    "billingReports": "spark-admin:wholesale_billing_reports_read",
    "locations": "partnerhub:locations_read",
    "numbers": "partnerhub:numbers_read",
    "subPartners": SUB_PARTNERS_READ,
    "templates": "partnerhub:templates_read",
    "administrators": ADMIN_SCOPE,
}
# What a webhook may subscribe to (docs/contract.md §8).
WEBHOOK_RESOURCES = (
    "wholesaleCustomers",
    "wholesaleSubscribers",
    "subscriberImports",
    "billingReports",
    "locations",
    "numbers",
    "subPartners",
)
EVENTS = ("created", "updated", "deleted", "statusChanged")
FILTER_KEYS = ("customerId", "status", "onBehalfOfSubPartnerOrgId")
ACTIVE, INACTIVE = "active", "inactive"
OWNED_BY = ("creator", "org")


def require_webhooks(principal: Principal) -> None:
    """Webhooks are for callers that may read at least one resource a webhook can carry."""
    principal.require(*sorted({READ_SCOPES[r] for r in WEBHOOK_RESOURCES}))


def may_manage(principal: Principal) -> bool:
    """Creating, changing, deleting, testing or re-activating a webhook is for callers that may
    change something: a ``_write`` scope or ``partnerhub:admin`` (the portal's rule too). A
    read-only caller (a ``read_only`` or ``sales`` administrator, a token of read scopes only)
    may look at webhooks, never redirect, silence or create one."""
    return principal.has(ADMIN_SCOPE) or any(s.endswith("_write") for s in principal.scopes)


def require_manage(principal: Principal) -> None:
    require_webhooks(principal)
    if not may_manage(principal):
        raise Forbidden("Your role cannot manage webhooks")


def require_org_owner(principal: Principal) -> None:
    """A webhook becomes the organization's (``ownedBy=org``: it outlives its maker, see
    ``repository.MAKER_HOLDS``) only by a full administrator's hand (``partnerhub:admin``, who
    manages administrators): otherwise anyone who may manage webhooks could make one that
    survives their own deactivation."""
    principal.require(ADMIN_SCOPE)


def shown_secret(principal: Principal, webhook: Webhook) -> str | None:
    """The webhook's secret as the caller's answer shows it: only to a caller who may manage
    the webhook (a manager who reads its resource); a lower-scoped reader gets none (with it
    they could sign forged deliveries to the partner's receiver)."""
    if may_manage(principal) and principal.has(READ_SCOPES[webhook.resource]):
        return webhook.secret
    return None


# Webex's ``appId`` of a webhook (the application that made it): every webhook here is made
# through PartnerHub, so one id, the same on every installation.
APP_ID = ids.encode("APPLICATION", uuid.uuid5(uuid.NAMESPACE_URL, "partnerhub:app"), ids.HUB)


def webhook_id(webhook: Webhook) -> str:
    return ids.encode("WEBHOOK", webhook.id, ids.HUB)


# --- what a reader sees of the stream's numbers -------------------------------------------


class Cursors:
    """Feed cursors and event ids as a reader sees them: opaque (docs/events.md, "Order and the
    cursor"). The stream's numbers (commit position, event id) are the hub's, shared by every
    partner: shown in clear, the gap between two of a partner's own cursors would tell it how
    much every other partner did in between. Each is one AES block under a key derived from
    the server secret (``identity.keys``): a cursor is the position and the event id (48 bits
    each) and 32 zero bits, which a cursor the feed did not give fails; an event id is the
    event's number under a key of its own. Deterministic, so stable across restarts and the
    same from every process of the installation; 22 base64url characters each. A one-block
    permutation needs no chaining mode: each block is a whole value."""

    _BITS = 48

    def __init__(self, secret: bytes) -> None:
        # ECB of one block: a keyed permutation of 128-bit values, not a stream of blocks.
        one_block = modes.ECB()  # noqa: S305
        self._cursor = Cipher(algorithms.AES(keys.derive(secret, "events:cursor")), one_block)
        self._id = Cipher(algorithms.AES(keys.derive(secret, "events:id")), one_block)

    @staticmethod
    def _seal(cipher: Cipher[Any], blocks: list[bytes]) -> list[str]:
        """Each block sealed (one cipher pass for a whole page: ECB seals blocks apart)."""
        encryptor = cipher.encryptor()
        sealed = encryptor.update(b"".join(blocks)) + encryptor.finalize()
        return [
            base64.urlsafe_b64encode(sealed[i : i + 16]).rstrip(b"=").decode()
            for i in range(0, len(sealed), 16)
        ]

    def cursors(self, pairs: list[tuple[int, int]]) -> list[str]:
        """The cursors of (position, event id) pairs."""
        size = self._BITS // 8
        return self._seal(
            self._cursor,
            [p.to_bytes(size, "big") + e.to_bytes(size, "big") + bytes(4) for p, e in pairs],
        )

    def cursor(self, position: int, event_id: int) -> str:
        return self.cursors([(position, event_id)])[0]

    def event_ids(self, numbers: list[int]) -> list[str]:
        """The wire ids of events (their numbers, sealed)."""
        return self._seal(self._id, [n.to_bytes(8, "big") + bytes(8) for n in numbers])

    def parse(self, raw: str | None) -> tuple[int, int]:
        """``after`` of the feed: (position, event id); absent = from the oldest event kept."""
        if raw is None or raw.strip() == "":
            return 0, 0
        text = raw.strip()
        try:
            sealed = base64.urlsafe_b64decode(text + "==") if len(text) == 22 else b""
        except (binascii.Error, ValueError):
            sealed = b""
        if len(sealed) != 16:
            raise InvalidValue("after: not a cursor this feed gave", field="after")
        decryptor = self._cursor.decryptor()
        block = decryptor.update(sealed) + decryptor.finalize()
        size = self._BITS // 8
        if block[2 * size :] != bytes(4):
            raise InvalidValue("after: not a cursor this feed gave", field="after")
        return int.from_bytes(block[:size], "big"), int.from_bytes(block[size : 2 * size], "big")


@functools.lru_cache(maxsize=4)
def _cursors(secret: bytes) -> Cursors:
    return Cursors(secret)


async def cursors(repo: EventRepository | WebhookRepository) -> Cursors:
    """The installation's :class:`Cursors` (its server secret: one primary-key read)."""
    return _cursors(await keys.server_secret(repo.session))


@dataclass(frozen=True, slots=True)
class FeedItem:
    """An event of a feed page, with its cursor and id as the reader sees them."""

    cursor: str
    id: str
    event: StoredEvent


async def feed(
    repo: EventRepository,
    after: str | None,
    max_: int,
    resource: str | None,
    customer: str | None,
) -> tuple[list[FeedItem], str]:
    """The acting partner's events after ``after``, in commit order, and the next cursor."""
    codec = await cursors(repo)
    position, event_id = codec.parse(after)
    principal = repo.principal
    resources = [r for r, scope in READ_SCOPES.items() if principal.has(scope)]
    if resource is not None:
        if resource not in READ_SCOPES:
            raise InvalidValue(f"resource: unknown resource '{resource}'", field="resource")
        principal.require(READ_SCOPES[resource])
        resources = [resource]
    elif not resources:
        principal.require(*READ_SCOPES.values())
    here = codec.cursor(position, event_id)
    customer_id = None
    if customer is not None:
        customer_id = ids.decode("CUSTOMER", customer.strip())
        if customer_id is None:  # an id that is not one: nothing of yours matches it
            return [], here
    rows = await repo.feed(position, event_id, max_, resources, customer_id)
    sealed = zip(
        codec.cursors([(e.position, e.id) for e in rows]),
        codec.event_ids([e.id for e in rows]),
        strict=True,
    )
    items = [FeedItem(cursor, id_, e) for (cursor, id_), e in zip(sealed, rows, strict=True)]
    return items, items[-1].cursor if items else here


@dataclass(frozen=True, slots=True)
class Filter:
    """A webhook's ``filter``, parsed (what the dispatcher matches events against)."""

    customer_id: uuid.UUID | None = None
    status: str | None = None
    sub_partner_id: uuid.UUID | None = None


def parse_filter(raw: str | None) -> Filter:
    if raw is None or raw.strip() == "":
        return Filter()
    pairs = parse_qsl(raw.strip(), keep_blank_values=True, strict_parsing=False)
    values: dict[str, str] = {}
    for key, value in pairs:
        if key not in FILTER_KEYS:
            raise InvalidValue(
                f"filter: unknown key '{key}' (one of {', '.join(FILTER_KEYS)})",
                field="filter",
                reason="filter.unknown_key",
                params={"key": key, "keys": ", ".join(FILTER_KEYS)},
            )
        if key in values or value == "":
            raise InvalidValue(
                f"filter: '{key}' needs exactly one value",
                field="filter",
                reason="filter.one_value",
                params={"key": key},
            )
        values[key] = value
    customer = sub = None
    if "customerId" in values:
        customer = ids.decode("CUSTOMER", values["customerId"])
        if customer is None:
            raise InvalidValue(
                "filter: customerId is not a customer id",
                field="filter",
                reason="filter.not_customer_id",
                params={"value": values["customerId"]},
            )
    if "onBehalfOfSubPartnerOrgId" in values:
        sub = ids.decode("ORGANIZATION", values["onBehalfOfSubPartnerOrgId"])
        if sub is None:
            raise InvalidValue(
                "filter: onBehalfOfSubPartnerOrgId is not an organization id",
                field="filter",
                reason="filter.not_org_id",
                params={"value": values["onBehalfOfSubPartnerOrgId"]},
            )
    return Filter(customer_id=customer, status=values.get("status"), sub_partner_id=sub)


def check_target(url: str, allow_private: bool) -> None:
    """A target URL PartnerHub may POST to: http(s), no credentials, and (unless the operator
    allows private addresses) not a literal private address; names are checked again, resolved,
    at every delivery (``kit.outbound``)."""
    try:
        parsed = outbound.check_url(url)
    except outbound.UrlRefused as exc:
        raise InvalidValue(
            f"targetUrl: {exc}",
            field="targetUrl",
            reason=f"url.{exc.reason or 'not_url'}",
            params={"value": url},
        ) from None
    if not allow_private:
        host = parsed.host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:  # a name: checked when it is resolved, at every delivery
            address = None
        reason = outbound.refusal(address) if address is not None else None
        if reason is not None or host.lower().rstrip(".") == "localhost":
            raise InvalidValue(
                f"targetUrl: {reason or 'a loopback name'} is not accepted",
                field="targetUrl",
                reason="url.private",
                params={"value": url, "host": host},
            )


async def _checked_filter(repo: WebhookRepository, raw: str | None) -> Filter:
    parsed = parse_filter(raw)
    if parsed.customer_id is not None and not await repo.has_customer(parsed.customer_id):
        # another partner's customer is as unknown as no customer at all
        raise InvalidValue(
            "filter: customerId: no customer of yours has this id",
            field="filter",
            reason="filter.no_customer",
        )
    if parsed.sub_partner_id is not None and await repo.sub_partner(parsed.sub_partner_id) is None:
        # another partner's sub-partner is as unknown as no sub-partner at all
        raise InvalidValue(
            "filter: onBehalfOfSubPartnerOrgId: no sub-partner of yours has this organization id",
            field="filter",
            reason="filter.no_sub_partner",
        )
    return parsed


async def create(
    repo: WebhookRepository,
    *,
    name: str,
    target_url: str,
    resource: str,
    event: str,
    filter_: str | None,
    secret: str | None,
    owned_by: str | None,
    allow_private: bool,
) -> Webhook:
    require_manage(repo.principal)
    problems: list[ApiError] = []
    if resource not in WEBHOOK_RESOURCES:
        problems.append(
            InvalidValue(
                f"resource: one of {', '.join(WEBHOOK_RESOURCES)}",
                field="resource",
                reason="unknown",
                params={"value": resource},
            )
        )
    if event not in (*EVENTS, "all"):
        problems.append(
            InvalidValue(
                f"event: one of {', '.join(EVENTS)}, all",
                field="event",
                reason="unknown",
                params={"value": event},
            )
        )
    if owned_by is not None and owned_by not in OWNED_BY:
        problems.append(InvalidValue("ownedBy: creator or org", field="ownedBy"))
    try:
        check_target(target_url, allow_private)
    except InvalidValue as exc:
        problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationFailed(problems)
    repo.principal.require(READ_SCOPES[resource])
    if owned_by == "org":
        require_org_owner(repo.principal)
    rule = await _checked_filter(repo, filter_)
    webhook = Webhook(
        id=uuid.uuid4(),
        partner_id=repo.principal.partner_id,
        name=name,
        target_url=target_url,
        resource=resource,
        event=event,
        filter=filter_.strip() if filter_ else None,
        filter_customer_id=rule.customer_id,
        filter_status=rule.status,
        filter_sub_partner_id=rule.sub_partner_id,
        secret=secret or None,
        status=ACTIVE,
        owned_by=owned_by or "creator",
        created_by=repo.principal.actor_id,
        start_position=await repo.stream_position(),
    )
    repo.add(webhook)
    await repo.flush()
    await repo.session.refresh(webhook)
    _log(repo, "webhook.create", webhook, {})
    return webhook


async def update(
    repo: WebhookRepository,
    raw_id: str,
    *,
    name: str,
    target_url: str,
    secret: str | None,
    owned_by: str | None,
    status: str | None,
    allow_private: bool,
) -> Webhook:
    webhook = await get(repo, raw_id, manage=True)
    if status is not None and status != ACTIVE:
        raise InvalidValue("status: only 'active' (to re-activate) may be set", field="status")
    if owned_by is not None and owned_by not in OWNED_BY:
        raise InvalidValue("ownedBy: creator or org", field="ownedBy")
    if owned_by == "org" and webhook.owned_by != "org":
        require_org_owner(repo.principal)
    check_target(target_url, allow_private)
    before = _audited(webhook)
    webhook.name = name
    webhook.target_url = target_url
    if secret is not None:
        webhook.secret = secret or None
    if owned_by is not None:
        webhook.owned_by = owned_by
    if status == ACTIVE and webhook.status != ACTIVE:
        webhook.status = ACTIVE
        webhook.failures = 0
        webhook.deactivated = None
    await repo.flush()
    _log(repo, "webhook.update", webhook, before)
    return webhook


async def get(repo: WebhookRepository, raw_id: str, *, manage: bool = False) -> Webhook:
    """The caller's webhook (another partner's: 404); one of a resource the caller may not
    read is refused (403), as the feed refuses that resource: its filter, target and
    delivery log are about that resource. ``manage``: to change, delete or test it (a caller
    who may manage webhooks, the row locked for the change)."""
    if manage:
        require_manage(repo.principal)
    else:
        require_webhooks(repo.principal)
    webhook = await repo.get(ids.decode("WEBHOOK", raw_id), for_update=manage)
    repo.principal.require(READ_SCOPES[webhook.resource])
    return webhook


async def delete(repo: WebhookRepository, raw_id: str) -> None:
    webhook = await get(repo, raw_id, manage=True)
    _log(repo, "webhook.delete", webhook, _audited(webhook), removed=True)
    await repo.remove(webhook)


def record_test(repo: WebhookRepository, webhook: Webhook) -> None:
    """The audit row of a "send test event" (``delivery.send_test``)."""
    _log(repo, "webhook.test", webhook, {}, changes=False)


def _audited(webhook: Webhook) -> dict[str, Any]:
    """What the audit log shows of a webhook before and after a change (the secret only as
    changed)."""
    return {
        "name": webhook.name,
        "targetUrl": webhook.target_url,
        "resource": webhook.resource,
        "event": webhook.event,
        "filter": webhook.filter,
        "secret": webhook.secret,
        "status": webhook.status,
        "ownedBy": webhook.owned_by,
    }


def _log(
    repo: WebhookRepository,
    action: str,
    webhook: Webhook,
    before: dict[str, Any],
    *,
    removed: bool = False,
    changes: bool = True,
) -> None:
    after = {} if removed else _audited(webhook)
    audit.record(
        repo.session,
        repo.principal,
        action,
        target_type="WEBHOOK",
        target_id=webhook_id(webhook),
        target_name=webhook.name,
        changes=audit.changes_of(before, after, secret=("secret",)) if changes else None,
    )


async def list_webhooks(repo: WebhookRepository, offset: int, fetch: int) -> list[Webhook]:
    """The caller's webhooks of the resources it may read."""
    require_webhooks(repo.principal)
    readable = [r for r in WEBHOOK_RESOURCES if repo.principal.has(READ_SCOPES[r])]
    return await repo.page(offset, fetch, readable)
