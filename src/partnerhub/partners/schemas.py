"""Wire models of sub-partners (CONTRACT section 5)."""

from __future__ import annotations

from pydantic import Field, StrictBool

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime


class SubPartnerOut(Schema):
    org_id: str
    subscription_id: str | None
    provisioning_state: str
    created: UtcDatetime
    billing_start_date: UtcDatetime


class SubPartnerList(Schema):
    items: list[SubPartnerOut]


# --- partner settings ---------------------------------------------------------------


class OffersIn(InputSchema):
    wholesale: StrictBool = True
    hosted_calling: StrictBool = False


class PartnerSettingsIn(InputSchema):
    name: str = Field(max_length=200)
    pstn_providers: list[str] = Field(default_factory=list, max_length=200)
    offers: OffersIn = Field(default_factory=OffersIn)
    support_email: str | None = Field(default=None, max_length=320)


class OffersOut(Schema):
    wholesale: bool
    hosted_calling: bool


class PartnerSettingsOut(Schema):
    name: str
    pstn_providers: list[str]
    offers: OffersOut
    support_email: str | None = None
