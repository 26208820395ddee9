"""Wire models of ``/v1/webhooks`` and ``/v1/events`` (docs/contract.md §8)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from partnerhub.events.service import ACTIVE, EVENTS, OWNED_BY, WEBHOOK_RESOURCES
from partnerhub.kit.schemas import InputSchema, Schema, one_of
from partnerhub.kit.wire_types import Text, documented

# An http(s) URL with a host name (events.service.check_target: no credentials; a literal
# private address is refused, a name is checked when it is resolved, at each delivery).
TargetUrl = Annotated[
    Text,
    documented(
        pattern=r"^https?://[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?:\.[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)*"
        r"\.[A-Za-z]{2,}(?:/[A-Za-z0-9._~/-]*)?$"
    ),
]
OwnedBy = Annotated[str, one_of(OWNED_BY)]


class WebhookIn(InputSchema):
    name: Text = Field(min_length=1, max_length=200)
    target_url: TargetUrl = Field(min_length=1, max_length=2048)
    resource: Annotated[str, one_of(WEBHOOK_RESOURCES)] = Field(min_length=1, max_length=40)
    event: Annotated[str, one_of((*EVENTS, "all"))] = Field(min_length=1, max_length=20)
    filter: str | None = Field(default=None, max_length=1024)
    secret: str | None = Field(default=None, max_length=256)
    owned_by: OwnedBy | None = Field(default=None, max_length=20)


class WebhookUpdate(InputSchema):
    name: Text = Field(min_length=1, max_length=200)
    target_url: TargetUrl = Field(min_length=1, max_length=2048)
    secret: str | None = Field(default=None, max_length=256)
    owned_by: OwnedBy | None = Field(default=None, max_length=20)
    status: Annotated[str, one_of((ACTIVE,))] | None = Field(default=None, max_length=10)


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
    app_id: str


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
