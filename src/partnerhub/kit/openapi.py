"""PartnerHub's ``/openapi.json`` documents what the API really answers.

FastAPI documents each operation's success response and a 422 ``HTTPValidationError`` that
this API never sends (request validation errors are 400 in the contract's shape). This module
replaces that 422 with the error responses every ``/v1`` operation may give, all with the
contract's error body (CONTRACT.md sections 1 and 6), and declares the bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "The contract's error body: `message` repeats the first description.",
    "required": ["message", "errors", "trackingId"],
    "additionalProperties": False,
    "properties": {
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["description", "errorCode"],
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string"},
                    "errorCode": {"type": "integer"},
                },
            },
        },
        "trackingId": {"type": "string"},
    },
}

ERROR_RESPONSES: dict[str, str] = {
    "400": "Invalid request: malformed JSON, a missing field or a value not allowed",
    "401": "No valid bearer token",
    "403": "The token lacks the scope, or the action is not permitted",
    "404": "Unknown resource (or another tenant's)",
    "409": "Conflict with the resource's current state",
    "413": "Request body too large",
    "415": "Request body is not JSON",
    "422": "Idempotency-Key reused with another body",
    "429": "Rate limit reached; see Retry-After",
    "503": "The database is unavailable; retry later",
}
UNUSED_SCHEMAS = ("HTTPValidationError", "ValidationError")

LOCATION_HEADER: dict[str, Any] = {
    "description": "The absolute URL of the resource",
    "required": True,
    "schema": {"type": "string", "format": "uri"},
}


def located(description: str, **extra: Any) -> dict[str, Any]:
    """A route's ``responses`` entry for an answer that carries ``Location``:
    ``@router.post("", status_code=201, responses={201: openapi.located("Created")})``."""
    return {"description": description, "headers": {"Location": LOCATION_HEADER}, **extra}


def bodiless(description: str) -> dict[str, Any]:
    """A route's ``responses`` entry for an answer without a body (with
    ``response_class=Response``, which documents no content)."""
    return {"description": description}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error responses and bearer authentication to a FastAPI OpenAPI document."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in UNUSED_SCHEMAS:
        schemas.pop(name, None)
    schemas["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    ref = {"$ref": "#/components/schemas/Error"}
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
            operation.setdefault("security", [{"bearer": []}])
            for parameter in operation.get("parameters", []):
                _not_null(parameter)
    return schema


def _not_null(parameter: dict[str, Any]) -> None:
    """A query parameter is text or absent, never ``null``: FastAPI documents an optional
    one (``str | None``) as ``anyOf [string, null]``; the ``null`` branch is dropped."""
    schema = parameter.get("schema", {})
    variants = schema.get("anyOf")
    if not variants or {"type": "null"} not in variants:
        return
    kept = [v for v in variants if v != {"type": "null"}]
    del schema["anyOf"]
    schema.update(kept[0] if len(kept) == 1 else {"anyOf": kept})


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the documented-errors version (built once)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
