"""Wire models of wholesale subscribers (CONTRACT section 4), administrators and imports."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool

from partnerhub.catalog.customer_roles import CUSTOMER_ROLES
from partnerhub.catalog.packages import (
    CALLING_PACKAGES,
    LEGACY_SUBSCRIBER_PACKAGES,
    SUBSCRIBER_PACKAGES,
)
from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime, one_of, wire_required
from partnerhub.kit.schemas import PrecheckInfo as PrecheckInfo  # the precheck's answer
from partnerhub.kit.schemas import PrecheckOut as PrecheckOut
from partnerhub.kit.wire_types import Email, Text, documented
from partnerhub.subscribers.rules import (
    EXTENSION_RE,
    NAME_MAX,
    STATUSES,
    PrecheckInput,
    SubscriberInput,
)

SubscriberPackage = Annotated[str, one_of(SUBSCRIBER_PACKAGES)]
LegacyPackage = Annotated[str, one_of(LEGACY_SUBSCRIBER_PACKAGES)]
SubscriberStatus = Annotated[str, one_of(STATUSES)]
CustomerRole = Annotated[str, one_of(CUSTOMER_ROLES)]

_CALLING_FIELDS = {
    "primary_phone_number": "phone_number",
    "extension": "extension",
    "location_id": "location",
}


Extension = Annotated[str, documented(pattern=f"^\\s*{EXTENSION_RE.pattern}\\s*$")]


class ProvisioningParametersIn(InputSchema):
    first_name: str | None = Field(default=None, max_length=NAME_MAX)
    last_name: str | None = Field(default=None, max_length=NAME_MAX)
    primary_phone_number: Text | None = Field(default=None, max_length=100)
    extension: Extension | None = Field(default=None, max_length=100)
    location_id: str | None = Field(default=None, max_length=300)


def _package_rules(schema: dict[str, Any]) -> None:
    """Exactly one of ``package`` or ``packages`` (one element); a calling package with a
    ``primaryPhoneNumber`` or an ``extension``, another package with neither (CONTRACT
    section 4): one ``anyOf`` branch per combination, each stating every field it needs."""
    calling = [p for p in SUBSCRIBER_PACKAGES if p in CALLING_PACKAGES]
    other = [p for p in SUBSCRIBER_PACKAGES if p not in CALLING_PACKAGES]
    legacy_calling = [p for p in LEGACY_SUBSCRIBER_PACKAGES if p in CALLING_PACKAGES]
    legacy_other = [p for p in LEGACY_SUBSCRIBER_PACKAGES if p not in CALLING_PACKAGES]
    no_number = {
        "anyOf": [
            {"type": "null"},
            {"properties": {"primaryPhoneNumber": {"type": "null"}, "extension": {"type": "null"}}},
        ]
    }
    branches = []
    for field, names, legacy in (
        ("package", calling, legacy_calling),
        ("package", other, legacy_other),
        ("packages", calling, legacy_calling),
        ("packages", other, legacy_other),
    ):
        chosen = (
            {"type": "string", "enum": legacy}
            if field == "package"
            else {"type": "array", "minItems": 1, "maxItems": 1, "items": {"enum": names}}
        )
        unused = "packages" if field == "package" else "package"
        props = {field: chosen, unused: {"type": "null"}}
        if names is other:
            branches.append(
                {"required": [field], "properties": {**props, "provisioningParameters": no_number}}
            )
            continue
        for number in ("primaryPhoneNumber", "extension"):
            given = {
                "type": "object",
                "required": [number],
                "properties": {number: {"type": "string"}},
            }
            branches.append(
                {
                    "required": [field, "provisioningParameters"],
                    "properties": {**props, "provisioningParameters": given},
                }
            )
    schema["anyOf"] = branches


def _subscriber_rules(schema: dict[str, Any]) -> None:
    wire_required("customerId", "email")(schema)
    _package_rules(schema)


class _PackageFields(InputSchema):
    model_config = ConfigDict(json_schema_extra=_package_rules)

    package: LegacyPackage | None = Field(default=None, max_length=100)
    packages: Annotated[list[SubscriberPackage], documented(minItems=1, maxItems=1)] | None = Field(
        default=None, max_length=20
    )
    provisioning_parameters: ProvisioningParametersIn | None = None

    def to_input(self, customer_id: str | None = None, email: str | None = None) -> SubscriberInput:
        params = self.provisioning_parameters or ProvisioningParametersIn()
        given = frozenset(
            _CALLING_FIELDS[f] for f in params.model_fields_set if f in _CALLING_FIELDS
        )
        return SubscriberInput(
            customer=customer_id,
            email=email,
            package=self.package,
            packages=self.packages,
            first_name=params.first_name,
            last_name=params.last_name,
            phone_number=params.primary_phone_number,
            extension=params.extension,
            location=params.location_id,
            given=given,
        )


class SubscriberIn(_PackageFields):
    """``POST /v1/wholesale/subscribers``."""

    model_config = ConfigDict(json_schema_extra=_subscriber_rules)

    customer_id: Text | None = Field(default=None, max_length=300)
    email: Email | None = Field(default=None, max_length=1000)


class SubscriberUpdateIn(_PackageFields):
    """``PUT /v1/wholesale/subscribers/{subscriberId}``."""


class CustomerInfoIn(InputSchema):
    primary_email: Email | None = Field(default=None, max_length=1000)


def _precheck_rules(schema: dict[str, Any]) -> None:
    """``email``, and the customer: ``customerId``, or a new one's ``provisioningId`` and
    ``customerInfo.primaryEmail``."""
    wire_required("email")(schema)
    new_customer = {
        "type": "object",
        "required": ["primaryEmail"],
        "properties": {"primaryEmail": {"type": "string"}},
    }
    schema["anyOf"] = [
        {"required": ["customerId"], "properties": {"customerId": {"type": "string"}}},
        {
            "required": ["provisioningId", "customerInfo"],
            "properties": {"provisioningId": {"type": "string"}, "customerInfo": new_customer},
        },
    ]


class PrecheckIn(SubscriberIn):
    """``POST /v1/wholesale/subscribers/validate`` (three variants)."""

    model_config = ConfigDict(json_schema_extra=_precheck_rules)

    provisioning_id: Text | None = Field(default=None, max_length=300)
    customer_info: CustomerInfoIn | None = None

    def to_precheck(self) -> PrecheckInput:
        return PrecheckInput(
            subscriber=self.to_input(self.customer_id, self.email),
            provisioning_id=self.provisioning_id,
            primary_email=self.customer_info.primary_email if self.customer_info else None,
            has_customer_info=self.customer_info is not None,
        )


class ErrorOut(Schema):
    error_code: int
    description: str


class SubscriberOut(Schema):
    id: str
    person_id: str | None = None
    email: str
    customer_id: str
    external_customer_id: str
    package: LegacyPackage | None = None
    packages: list[SubscriberPackage]
    status: SubscriberStatus
    errors: list[ErrorOut]
    created: UtcDatetime
    last_status_change: UtcDatetime
    # hub extras (read-only)
    first_name: str | None = None
    last_name: str | None = None
    primary_phone_number: str | None = None
    extension: str | None = None
    location_id: str | None = None
    roles: list[str] = Field(default_factory=list)


class SubscriberList(Schema):
    items: list[SubscriberOut]


# --- administrators and roles (hub) ---------------------------------------------------------


class RolesIn(InputSchema):
    roles: list[CustomerRole] = Field(max_length=20)


class CustomerRoleOut(Schema):
    name: str
    label: str
    description: str


class CustomerRoleList(Schema):
    items: list[CustomerRoleOut]


class AdministratorOut(Schema):
    person_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    package: LegacyPackage | None = None
    roles: list[CustomerRole]
    status: str


class AdministratorList(Schema):
    items: list[AdministratorOut]


# --- bulk imports (hub) ---------------------------------------------------------------------


class ImportIn(InputSchema):
    """``POST /v1/partner/customers/{customerId}/imports`` with a JSON body (or ``text/csv``)."""

    csv: str = Field(max_length=50_000_000)
    dry_run: StrictBool = False


class ImportRowError(Schema):
    row: int
    column: str
    message: str
    error_code: int


class ImportOut(Schema):
    id: str | None = None
    customer_id: str
    status: str
    total: int
    processed: int
    created_count: int
    existing_count: int
    errors: list[ImportRowError]
    created: UtcDatetime | None = None
    finished: UtcDatetime | None = None
    result_url: str | None = None


class ImportList(Schema):
    items: list[ImportOut]
