"""Wire models of the number inventory (CONTRACT section 7)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from partnerhub.kit.schemas import InputSchema, Schema, one_of
from partnerhub.kit.wire_types import documented
from partnerhub.numbers.service import NUMBER_TYPES, STATES

NumberType = Annotated[str, one_of(NUMBER_TYPES)]
NumberState = Annotated[str, one_of(STATES)]


class NumbersIn(InputSchema):
    """``POST``/``DELETE /v1/telephony/config/locations/{locationId}/numbers``.

    ``phoneNumbers`` holds E.164 numbers and ranges (``+390212345600..+390212345699`` or
    ``+390212345600..699``).
    """

    phone_numbers: Annotated[list[str], documented(minItems=1)] = Field(max_length=10_000)
    number_type: NumberType = Field(default="DID", max_length=20)
    state: NumberState = Field(default="ACTIVE", max_length=20)


class NumbersRemoveIn(InputSchema):
    phone_numbers: Annotated[list[str], documented(minItems=1)] = Field(max_length=10_000)


class LocationRef(Schema):
    id: str
    name: str


class OwnerOut(Schema):
    id: str
    type: str
    first_name: str | None = None
    last_name: str | None = None


class NumberOut(Schema):
    phone_number: str
    extension: str | None = None
    main_number: bool
    state: NumberState
    number_type: NumberType
    location: LocationRef
    owner: OwnerOut | None = None


class NumberList(Schema):
    phone_numbers: list[NumberOut]
