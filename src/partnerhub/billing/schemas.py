"""Wire models of the billing reports (the vendor's ``ReportId``, ``Report``, ``ListReport``)."""

from __future__ import annotations

from pydantic import Field, StrictBool

from partnerhub.kit.schemas import InputSchema, Schema


class ReportIn(InputSchema):
    """``POST /v1/wholesale/billing/reports``. Dates and enums are read as text and checked by
    the service, which names the field in the contract's error (1002 missing, 1003 invalid)."""

    billing_start_date: str | None = Field(default=None, examples=["2026-11-01"])
    billing_end_date: str | None = Field(default=None, examples=["2026-11-30"])
    type: str | None = Field(default=None, description="PARTNER (default), CUSTOMER or USER")
    category: str | None = Field(
        default=None, description="RECONCILIATION (default) or POINT_IN_TIME"
    )
    sub_partner_org_id: str | None = None
    internal: StrictBool | None = Field(
        default=None, description="Accepted for compatibility: PartnerHub has no internal orgs"
    )


class ReportCreated(Schema):
    id: str
    billing_start_date: str
    billing_end_date: str
    type: str
    category: str


class ReportError(Schema):
    code: int
    description: str


class ReportOut(Schema):
    id: str
    billing_start_date: str
    billing_end_date: str
    type: str
    category: str
    status: str
    created: str
    created_by: str | None = None
    sub_partner_org_id: str | None = None
    temp_download_url: str | None = Field(default=None, alias="tempDownloadURL")
    errors: list[ReportError] = Field(default_factory=list)


class ReportList(Schema):
    items: list[ReportOut]
