"""Wire models of locations (CONTRACT section 7: the vendor's Locations API shape)."""

from __future__ import annotations

from pydantic import Field

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime
from partnerhub.locations.service import LocationData


class AddressIn(InputSchema):
    address1: str | None = Field(default=None, max_length=200)
    address2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=200)
    state: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=40)
    country: str | None = Field(default=None, max_length=10)


class LocationIn(InputSchema):
    """Create (``POST /v1/locations``) and full-replacement update (``PUT``) body.

    ``orgId`` may be given here or as a query parameter (create only). ``mainNumber`` (hub):
    a number of the location's inventory to mark as its main number; on update, leaving it
    out keeps the current one and ``null`` clears it.
    """

    org_id: str | None = Field(default=None, max_length=300)
    name: str | None = Field(default=None, max_length=200)
    time_zone: str | None = Field(default=None, max_length=100)
    preferred_language: str | None = Field(default=None, max_length=20)
    announcement_language: str | None = Field(default=None, max_length=20)
    address: AddressIn = Field(default_factory=AddressIn)
    emergency_location_identifier: str | None = Field(default=None, max_length=200)
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
