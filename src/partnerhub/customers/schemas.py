"""Wire models of wholesale customers (CONTRACT sections 2 and 3).

The input models hold the types and the shape of a body (objects, text, lists, no unknown
field: a wrong one is the contract's 400 before any rule runs); the rules of the values, with
their error codes, are :mod:`partnerhub.customers.rules`, which read these models, so the
portal wizard (which builds a :class:`CustomerIn` from its answers) and the API share one set
of rules and messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from partnerhub.catalog.packages import CUSTOMER_PACKAGES
from partnerhub.catalog.statuses import CUSTOMER_STATUSES
from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime, one_of, wire_required
from partnerhub.kit.schemas import PrecheckInfo as PrecheckInfo  # the precheck's answer
from partnerhub.kit.schemas import PrecheckOut as PrecheckOut

CustomerPackage = Annotated[str, one_of(CUSTOMER_PACKAGES)]
CustomerStatus = Annotated[str, one_of(CUSTOMER_STATUSES)]


class AddressOut(Schema):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    zip_or_postal_code: str | None = None
    country: str | None = None


class AddressIn(InputSchema, AddressOut):
    """The wholesale address as input: the same fields, unknown ones refused."""


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
