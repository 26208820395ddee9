"""Wire models of wholesale customers (CONTRACT sections 2 and 3).

Input models only check shapes (types, unknown fields); every rule with its error code lives
in :mod:`partnerhub.customers.service`, which works on the body as a camelCase ``dict`` so
that the portal wizard and the API share one set of rules and messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from partnerhub.catalog.packages import CUSTOMER_PACKAGES
from partnerhub.customers.service import STATUSES
from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime, one_of, wire_required

CustomerPackage = Annotated[str, one_of(CUSTOMER_PACKAGES)]
CustomerStatus = Annotated[str, one_of(STATUSES)]


class AddressIn(InputSchema):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    zip_or_postal_code: str | None = None
    country: str | None = None


class CustomerInfoIn(InputSchema):
    name: str | None = None
    primary_email: str | None = None
    language: str | None = None


class LocationIn(InputSchema):
    name: str | None = None
    address: AddressIn | None = None
    timezone: str | None = None
    language: str | None = None
    emergency_location_identifier: str | None = None
    # Legacy (hub): numbers for the HQ location's inventory, and its main number.
    numbers: list[str] | None = None
    main_number: str | None = None


class CallingIn(InputSchema):
    location: LocationIn | None = None


class MeetingsIn(InputSchema):
    timezone: str | None = None


class PackageParametersIn(InputSchema):
    limits: dict[str, Any] | None = None


class ProvisioningParametersIn(InputSchema):
    calling: CallingIn | None = None
    meetings: MeetingsIn | None = None
    packages: PackageParametersIn | None = None


class CustomerIn(InputSchema):
    """``POST /v1/wholesale/customers`` (and, as :class:`CustomerPrecheckIn`, ``.../validate``).
    ``customerInfo`` is also required unless ``orgId`` is given (the service says which)."""

    model_config = ConfigDict(
        json_schema_extra=wire_required("provisioningId", "packages", "externalId", "address")
    )

    provisioning_id: str | None = None
    packages: list[CustomerPackage] | None = None
    org_id: str | None = None
    external_id: str | None = None
    address: AddressIn | None = None
    customer_info: CustomerInfoIn | None = None
    provisioning_parameters: ProvisioningParametersIn | None = None
    sub_partner_admin_email: str | None = None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class CustomerPrecheckIn(CustomerIn):
    """``POST /v1/wholesale/customers/validate``: only the address is always required."""

    model_config = ConfigDict(json_schema_extra=wire_required("address"))


class CustomerUpdateIn(InputSchema):
    """``PUT /v1/wholesale/customers/{customerId}``; ``customerInfo`` and ``provisioningId``
    are accepted only unchanged."""

    packages: list[CustomerPackage] | None = None
    external_id: str | None = None
    address: AddressIn | None = None
    provisioning_parameters: ProvisioningParametersIn | None = None
    sub_partner_admin_email: str | None = None
    customer_info: CustomerInfoIn | None = None
    provisioning_id: str | None = None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ErrorOut(Schema):
    error_code: int
    description: str


class PackageOut(Schema):
    name: CustomerPackage
    status: str
    warnings: list[ErrorOut] = Field(default_factory=list)
    errors: list[ErrorOut] = Field(default_factory=list)
    license_ids: list[str] | None = None


class ResourceDetailsOut(Schema):
    packages: list[PackageOut]


class AddressOut(Schema):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    zip_or_postal_code: str | None = None
    country: str | None = None


class CustomerOut(Schema):
    id: str
    org_id: str | None = None
    external_id: str
    address: AddressOut
    status: CustomerStatus
    packages: list[CustomerPackage]
    resource_details: ResourceDetailsOut
    errors: list[ErrorOut]
    # hub extras (read-only)
    name: str | None = None
    data_region: str
    provisioning_id: str
    created: UtcDatetime
    last_status_change: UtcDatetime


class CustomerList(Schema):
    items: list[CustomerOut]


class ResourceUrl(Schema):
    url: str


class PrecheckInfo(Schema):
    info_code: int
    description: str


class PrecheckOut(Schema):
    message: str
    info: PrecheckInfo
