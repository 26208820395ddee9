"""Wire models of partner administrators (hub API)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime
from partnerhub.kit.wire_types import NO_CONTROL, Email, documented

Role = Literal["full_admin", "admin", "read_only", "sales"]


class AdministratorIn(InputSchema):
    email: Email = Field(max_length=320)
    display_name: str = Field(default="", max_length=200)
    role: Role
    # no control character (identity.service: NUL, newline... cannot be typed)
    password: Annotated[str, documented(pattern=NO_CONTROL)] = Field(min_length=12, max_length=200)


class AdministratorUpdate(InputSchema):
    display_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: StrictBool | None = None


class AdministratorOut(Schema):
    id: str
    email: str
    display_name: str
    role: str
    active: bool
    created: UtcDatetime
    last_login: UtcDatetime | None


class AdministratorList(Schema):
    items: list[AdministratorOut]
