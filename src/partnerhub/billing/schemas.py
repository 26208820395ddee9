"""Wire models of the billing reports (the vendor's ``ReportId``, ``Report``, ``ListReport``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool

from partnerhub.billing.service import CATEGORIES, STATUSES, TYPES
from partnerhub.kit.schemas import InputSchema, Schema, one_of, wire_required
from partnerhub.kit.wire_types import documented

ReportType = Annotated[str, one_of(TYPES)]
ReportCategory = Annotated[str, one_of(CATEGORIES)]


class ReportIn(InputSchema):
    """``POST /v1/wholesale/billing/reports``. Dates and enums are read as text and checked by
    the service, which names the field in the contract's error (1002 missing, 1003 invalid)."""

    model_config = ConfigDict(json_schema_extra=wire_required("billingStartDate", "billingEndDate"))

    billing_start_date: Annotated[str, documented(format="date")] | None = Field(
        default=None, examples=["2026-11-01"]
    )
    billing_end_date: Annotated[str, documented(format="date")] | None = Field(
        default=None, examples=["2026-11-30"]
    )
    type: ReportType | None = Field(default=None, description="PARTNER (default), CUSTOMER or USER")
    category: ReportCategory | None = Field(
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
    type: ReportType
    category: ReportCategory


class ReportError(Schema):
    code: int
    description: str


class ReportOut(Schema):
    id: str
    billing_start_date: str
    billing_end_date: str
    type: ReportType
    category: ReportCategory
    status: Annotated[str, one_of(STATUSES)]
    created: str
    created_by: str | None = None
    sub_partner_org_id: str | None = None
    temp_download_url: str | None = Field(default=None, alias="tempDownloadURL")
    errors: list[ReportError] = Field(default_factory=list)


class ReportList(Schema):
    items: list[ReportOut]
