"""Wire models of installation assistance requests (hub API)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime, wire_required
from partnerhub.kit.wire_types import Email, Text


class InstallationRequestIn(InputSchema):
    model_config = ConfigDict(json_schema_extra=wire_required("contactName", "contactEmail"))

    contact_name: Text | None = Field(default=None, max_length=200)
    contact_email: Email | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    preferred_dates: str | None = Field(default=None, max_length=1000)
    sites: str | None = Field(default=None, max_length=4000)
    notes: str | None = Field(default=None, max_length=4000)


class InstallationRequestOut(Schema):
    id: str
    customer_id: str
    contact_name: str
    contact_email: str
    phone: str | None
    preferred_dates: str | None
    sites: str | None
    notes: str | None
    status: str
    emailed_to: str | None = None
    created: UtcDatetime
    updated: UtcDatetime


class InstallationRequestList(Schema):
    items: list[InstallationRequestOut]
