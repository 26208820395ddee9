"""Wire models of ``/v1/webhooks`` and ``/v1/events`` (docs/contract.md §8)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from partnerhub.kit.schemas import InputSchema, Schema


class WebhookIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    target_url: str = Field(min_length=1, max_length=2048)
    resource: str = Field(min_length=1, max_length=40)
    event: str = Field(min_length=1, max_length=20)
    filter: str | None = Field(default=None, max_length=1024)
    secret: str | None = Field(default=None, max_length=256)
    owned_by: str | None = Field(default=None, max_length=20)


class WebhookUpdate(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    target_url: str = Field(min_length=1, max_length=2048)
    secret: str | None = Field(default=None, max_length=256)
    owned_by: str | None = Field(default=None, max_length=20)
    status: str | None = Field(default=None, max_length=10)


class WebhookOut(Schema):
    id: str
    name: str
    target_url: str
    resource: str
    event: str
    filter: str | None = None
    secret: str | None = None
    status: str
    created: str
    owned_by: str
    org_id: str
    created_by: str | None = None


class WebhookList(Schema):
    items: list[WebhookOut]


class AttemptOut(Schema):
    delivery_id: str
    event_cursor: str | None = None
    attempt: int
    at: str
    status_code: int | None = None
    error: str | None = None
    latency_ms: int
    response_excerpt: str | None = None
    delivery_status: str


class AttemptList(Schema):
    items: list[AttemptOut]


class EventOut(Schema):
    cursor: str
    id: str
    resource: str
    event: str
    created: str
    actor_id: str | None = None
    tracking_id: str | None = None
    data: dict[str, Any]


class EventFeed(Schema):
    items: list[EventOut]
    next: str
