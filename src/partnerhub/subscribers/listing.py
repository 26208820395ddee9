"""The subscribers list: its query parameters (CONTRACT section 4) become repository filters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from partnerhub import ids
from partnerhub.errors import InvalidValue
from partnerhub.kit.validators import parse_instant
from partnerhub.models import OrgUser
from partnerhub.subscribers.repository import (
    CustomerKey,
    SubscriberFilters,
    SubscriberListing,
    SubscriberRepository,
)
from partnerhub.subscribers.rules import READ, STATUSES, clean_text


@dataclass(frozen=True)
class ListQuery:
    customer_id: str | None = None
    person_id: str | None = None
    external_customer_id: str | None = None
    email: str | None = None
    status: list[str] = field(default_factory=list)
    after: str | None = None
    last_status_change: str | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    search: str | None = None  # portal search: part of the email or name


_NOTHING = SubscriberFilters(person_id=uuid.UUID(int=0), customer_id=uuid.UUID(int=0))


SORT_COLUMNS = ("created", "lastStatusChange")
SORT_ORDERS = ("ASC", "DESC")


def filters_of(query: ListQuery) -> SubscriberFilters:
    statuses: list[str] = []
    for raw in query.status:
        for part in raw.split(","):
            value = part.strip()
            if not value:
                continue
            if value not in STATUSES:
                raise InvalidValue(
                    f"status: '{value}' is not allowed ({', '.join(STATUSES)})", field="status"
                )
            statuses.append(value)
    sort_by = (query.sort_by or "created").strip()
    if sort_by not in SORT_COLUMNS:
        raise InvalidValue(
            f"sortBy: '{sort_by}' is not allowed ({', '.join(SORT_COLUMNS)})", field="sortBy"
        )
    order = (query.sort_order or "ASC").strip().upper()
    if order not in SORT_ORDERS:
        raise InvalidValue(
            f"sortOrder: '{query.sort_order}' is not allowed ({', '.join(SORT_ORDERS)})"
        )
    after = parse_instant("after", query.after)
    changed = parse_instant("lastStatusChange", query.last_status_change)
    customer_id = person_id = None
    if clean_text(query.customer_id) is not None:
        customer_id = ids.decode("CUSTOMER", (query.customer_id or "").strip())
        if customer_id is None:
            return _NOTHING
    if clean_text(query.person_id) is not None:
        person_id = ids.decode("PEOPLE", (query.person_id or "").strip())
        if person_id is None:
            return _NOTHING
    return SubscriberFilters(
        customer_id=customer_id,
        person_id=person_id,
        external_customer_id=clean_text(query.external_customer_id),
        email=clean_text(query.email),
        statuses=tuple(dict.fromkeys(statuses)),
        after=after,
        last_status_change=changed,
        sort_by=sort_by,
        descending=order == "DESC",
        search=clean_text(query.search),
    )


async def list_subscribers(
    repo: SubscriberRepository, query: ListQuery, offset: int, limit: int
) -> list[OrgUser]:
    repo.principal.require(READ)
    return await repo.page(filters_of(query), offset, limit)


async def list_subscriber_rows(
    repo: SubscriberRepository, query: ListQuery, offset: int, limit: int
) -> list[tuple[SubscriberListing, CustomerKey]]:
    """:func:`list_subscribers` as plain rows of the listed columns, each with what its answer
    shows of its customer (the API list: one statement)."""
    repo.principal.require(READ)
    return await repo.listing(filters_of(query), offset, limit)
