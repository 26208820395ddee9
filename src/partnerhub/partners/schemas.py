"""Wire models of sub-partners (CONTRACT section 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool

from partnerhub.identity.schemas import Role
from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime
from partnerhub.kit.wire_types import NO_CONTROL, Email, Text, documented


class SubPartnerOut(Schema):
    org_id: str
    subscription_id: str | None
    provisioning_state: str
    created: UtcDatetime
    billing_start_date: UtcDatetime
    name: str  # hub extension


class SubPartnerList(Schema):
    items: list[SubPartnerOut]


# --- hub extension: creating, suspending and staffing sub-partners ---------------------------


class FirstAdministratorIn(InputSchema):
    email: Email = Field(max_length=320)
    display_name: str = Field(default="", max_length=200)


class SubPartnerIn(InputSchema):
    name: Text = Field(max_length=200)
    subscription_id: Annotated[str, documented(pattern=NO_CONTROL)] | None = Field(
        default=None, max_length=100
    )
    billing_start_date: datetime | None = None
    administrator: FirstAdministratorIn


class SubPartnerUpdate(InputSchema):
    name: Text | None = Field(default=None, max_length=200)
    provisioning_state: Literal["active", "suspended"] | None = None


class SubPartnerAdministratorIn(InputSchema):
    email: Email = Field(max_length=320)
    display_name: str = Field(default="", max_length=200)
    role: Role


class SubPartnerAdministratorUpdate(InputSchema):
    display_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: StrictBool | None = None


# --- partner settings ---------------------------------------------------------------


class OffersIn(InputSchema):
    wholesale: StrictBool = True
    hosted_calling: StrictBool = False


class PartnerSettingsIn(InputSchema):
    name: Text = Field(max_length=200)
    pstn_providers: list[str] = Field(default_factory=list, max_length=200)
    offers: OffersIn = Field(default_factory=OffersIn)
    support_email: Email | None = Field(default=None, max_length=320)


class OffersOut(Schema):
    wholesale: bool
    hosted_calling: bool


class PartnerSettingsOut(Schema):
    name: str
    pstn_providers: list[str]
    offers: OffersOut
    support_email: str | None = None
