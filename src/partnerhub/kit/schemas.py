"""Wire models: camelCase on the wire, snake_case in Python; unknown fields are refused.

Input is strict where a lax reading changes meaning: a boolean field of an input model is a
``StrictBool`` (JSON ``true``/``false`` only; ``0``, ``0.0``, ``"false"`` or ``"on"`` are a 400,
never read as a boolean: tests/reliability/trust/test_strict_input.py), and an integer or
boolean query parameter is declared :data:`IntegerQuery` / :data:`BooleanQuery`: read as
text so that the route's parser (``kit.pagination.page_params``...) explains a bad value —
an empty one included — in the contract's error shape, and documented as an integer / a
boolean in ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Query
from pydantic import BaseModel, ConfigDict, PlainSerializer, Strict, WithJsonSchema
from pydantic.alias_generators import to_camel


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


UtcDatetime = Annotated[datetime, PlainSerializer(iso_z, return_type=str)]

# A query parameter that is an integer (or a boolean) on the wire: ``name: IntegerQuery = None``.
IntegerQuery = Annotated[str | None, WithJsonSchema({"type": "integer"}), Query()]
BooleanQuery = Annotated[str | None, WithJsonSchema({"type": "boolean"}), Query()]


def one_of(values: Iterable[str]) -> WithJsonSchema:
    """Documents a text field as one of ``values`` (taken from catalog/ or the service's
    constants, never copied): ``package: Annotated[str, one_of(SUBSCRIBER_PACKAGES)]``. The
    document says it; the service checks it (with its own error code and message)."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


def wire_required(*names: str) -> Callable[[dict[str, Any]], None]:
    """``model_config = ConfigDict(json_schema_extra=wire_required("email", ...))``: documents
    fields the service requires (each with its own error code and message, several at once)
    as required and not null, while the model itself still lets them be absent."""

    def extra(schema: dict[str, Any]) -> None:
        properties = schema.get("properties", {})
        for name in names:
            prop = properties[name]
            variants = prop.get("anyOf")
            if variants:
                kept = [v for v in variants if v != {"type": "null"}]
                prop.pop("anyOf")
                prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
            prop.pop("default", None)
        schema["required"] = sorted({*schema.get("required", []), *names})

    return extra


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


def _lax_bool(annotation: Any, metadata: list[Any]) -> bool:
    """Whether ``annotation`` lets a non-boolean JSON value through as a boolean."""
    if annotation is bool:
        return not any(isinstance(m, Strict) and m.strict for m in metadata)
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return _lax_bool(inner, [*metadata, *extra])
    if get_origin(annotation) in (Union, UnionType):
        return any(_lax_bool(arg, []) for arg in get_args(annotation))
    return False


class InputSchema(Schema):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, info in cls.model_fields.items():
            if _lax_bool(info.annotation, list(info.metadata)):
                raise TypeError(
                    f"{cls.__name__}.{name}: a boolean input field must be StrictBool "
                    "(JSON true/false only)"
                )


class PrecheckInfo(Schema):
    info_code: int
    description: str


class PrecheckOut(Schema):
    """The answer of a successful precheck (``POST .../validate``), customers and
    subscribers alike."""

    message: str
    info: PrecheckInfo
