"""Wire models of sub-partners (CONTRACT section 5)."""

from __future__ import annotations

from partnerhub.kit.schemas import Schema, UtcDatetime


class SubPartnerOut(Schema):
    org_id: str
    subscription_id: str | None
    provisioning_state: str
    created: UtcDatetime
    billing_start_date: UtcDatetime


class SubPartnerList(Schema):
    items: list[SubPartnerOut]
