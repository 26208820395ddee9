"""Wire models of locations (CONTRACT section 7: the vendor's Locations API shape)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime, wire_required
from partnerhub.kit.wire_types import CountryCode, Language, Text, TimeZone
from partnerhub.kit.wire_types import documented as doc
from partnerhub.locations.service import LINE_MAX, NAME_MAX, LocationData

# What the document states of locations.service.check: lengths, codes, required fields (the
# address rules by country and the time zone's country are not: docs/api-compatibility.md).
Line = Annotated[str, doc(maxLength=LINE_MAX)]


class AddressIn(InputSchema):
    model_config = ConfigDict(json_schema_extra=wire_required("address1", "city", "country"))

    address1: Annotated[Text, doc(maxLength=LINE_MAX)] | None = Field(default=None, max_length=200)
    address2: Line | None = Field(default=None, max_length=200)
    city: Annotated[Text, doc(maxLength=LINE_MAX)] | None = Field(default=None, max_length=200)
    state: Line | None = Field(default=None, max_length=200)
    postal_code: Annotated[str, doc(maxLength=20)] | None = Field(default=None, max_length=40)
    country: CountryCode | None = Field(default=None, max_length=10)


class LocationIn(InputSchema):
    """Create (``POST /v1/locations``) and full-replacement update (``PUT``) body.

    ``orgId`` may be given here or as a query parameter (create only). ``mainNumber`` (hub):
    a number of the location's inventory to mark as its main number; on update, leaving it
    out keeps the current one and ``null`` clears it.
    """

    model_config = ConfigDict(
        json_schema_extra=wire_required("name", "timeZone", "preferredLanguage", "address")
    )

    org_id: Text | None = Field(default=None, max_length=300)
    name: Annotated[Text, doc(maxLength=NAME_MAX)] | None = Field(default=None, max_length=200)
    time_zone: TimeZone | None = Field(default=None, max_length=100)
    preferred_language: Language | None = Field(default=None, max_length=20)
    announcement_language: Language | None = Field(default=None, max_length=20)
    address: AddressIn = Field(default_factory=AddressIn)
    emergency_location_identifier: Annotated[str, doc(maxLength=100)] | None = Field(
        default=None, max_length=200
    )
    main_number: str | None = Field(default=None, max_length=40)

    def to_data(self) -> LocationData:
        a = self.address
        return LocationData(
            name=self.name or "",
            time_zone=self.time_zone or "",
            preferred_language=self.preferred_language or "",
            announcement_language=self.announcement_language,
            address1=a.address1 or "",
            address2=a.address2,
            city=a.city or "",
            state=a.state,
            postal_code=a.postal_code,
            country=a.country or "",
            emergency_location_identifier=self.emergency_location_identifier,
        )


class AddressOut(Schema):
    address1: str
    address2: str | None
    city: str
    state: str | None
    postal_code: str | None
    country: str


class LocationOut(Schema):
    id: str
    name: str
    org_id: str | None
    time_zone: str
    preferred_language: str
    announcement_language: str | None
    address: AddressOut
    # hub extras (read-only)
    customer_id: str
    headquarters: bool
    main_number: str | None
    emergency_location_identifier: str | None
    created: UtcDatetime
    updated: UtcDatetime


class LocationList(Schema):
    items: list[LocationOut]
