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
from partnerhub.kit.wire_types import (
    CountryCode,
    Email,
    Language,
    Text,
    TimeZone,
    documented,
)

CustomerPackage = Annotated[str, one_of(CUSTOMER_PACKAGES)]
CustomerStatus = Annotated[str, one_of(CUSTOMER_STATUSES)]


class AddressOut(Schema):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    zip_or_postal_code: str | None = None
    country: str | None = None


# What the document states of the rules (customers.rules; CONTRACT section 2): a line at
# most 50 characters, names without "%". The address rules by country (state/province and
# postal code) are not stated: docs/api-compatibility.md says why.
Line = Annotated[str, documented(maxLength=50)]
RequiredLine = Annotated[Text, documented(maxLength=50)]


class AddressIn(InputSchema):
    """The wholesale address as input: the fields of :class:`AddressOut`, unknown ones
    refused."""

    model_config = ConfigDict(json_schema_extra=wire_required("addressLine1", "city", "country"))

    address_line1: RequiredLine | None = None
    address_line2: Line | None = None
    city: RequiredLine | None = None
    state_or_province: Line | None = None
    zip_or_postal_code: Line | None = None
    country: CountryCode | None = None


class CustomerInfoIn(InputSchema):
    model_config = ConfigDict(json_schema_extra=wire_required("name", "primaryEmail"))

    name: Annotated[Text, documented(maxLength=256, pattern=r"^[^%]*\S[^%]*$")] | None = None
    primary_email: Email | None = None
    language: Language | None = None


class LocationIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra=wire_required("name", "address", "timezone", "language")
    )

    name: Annotated[Text, documented(maxLength=80)] | None = None
    address: AddressIn | None = None
    timezone: TimeZone | None = None
    language: Language | None = None
    emergency_location_identifier: Annotated[str, documented(maxLength=80)] | None = None
    # Legacy (hub): numbers for the HQ location's inventory, and its main number.
    numbers: list[str] | None = None
    main_number: str | None = None


class CallingIn(InputSchema):
    location: LocationIn | None = None


class MeetingsIn(InputSchema):
    timezone: TimeZone | None = None


class PackageParametersIn(InputSchema):
    limits: (
        Annotated[
            dict[str, Any],
            documented(
                propertyNames={"enum": list(CUSTOMER_PACKAGES)},
                additionalProperties={"type": "integer", "minimum": 0},
            ),
        ]
        | None
    ) = None


class ProvisioningParametersIn(InputSchema):
    calling: CallingIn | None = None
    meetings: MeetingsIn | None = None
    packages: PackageParametersIn | None = None


def _customer_rules(schema: dict[str, Any]) -> None:
    """The fields always required, and ``customerInfo`` unless ``orgId`` attaches an
    existing organization. The packages' dependencies and the calling location a calling
    package needs are not stated (docs/api-compatibility.md says why)."""
    wire_required("provisioningId", "packages", "externalId", "address")(schema)
    schema["anyOf"] = [
        {"required": ["customerInfo"], "properties": {"customerInfo": {"type": "object"}}},
        {"required": ["orgId"], "properties": {"orgId": {"type": "string"}}},
    ]


class CustomerIn(InputSchema):
    """``POST /v1/wholesale/customers`` (and, as :class:`CustomerPrecheckIn`, ``.../validate``).
    ``customerInfo`` is also required unless ``orgId`` is given (the service says which)."""

    model_config = ConfigDict(json_schema_extra=_customer_rules)

    provisioning_id: Text | None = None
    packages: Annotated[list[CustomerPackage], documented(minItems=1)] | None = None
    org_id: Text | None = None
    external_id: Annotated[Text, documented(maxLength=256)] | None = None
    address: AddressIn | None = None
    customer_info: CustomerInfoIn | None = None
    provisioning_parameters: ProvisioningParametersIn | None = None
    sub_partner_admin_email: Email | None = None


class CustomerPrecheckIn(CustomerIn):
    """``POST /v1/wholesale/customers/validate``: only the address is always required."""

    model_config = ConfigDict(json_schema_extra=wire_required("address"))


class CustomerUpdateIn(InputSchema):
    """``PUT /v1/wholesale/customers/{customerId}``; ``customerInfo`` and ``provisioningId``
    are accepted only unchanged."""

    model_config = ConfigDict(json_schema_extra=wire_required("packages"))

    packages: Annotated[list[CustomerPackage], documented(minItems=1)] | None = None
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
