"""Domain errors and their wire form (CONTRACT section 6).

Every error leaves the API as ``{"message", "errors": [{"description", "errorCode"}],
"trackingId"}``. Services raise :class:`ApiError` subclasses; the app's handlers render them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class ApiError(Exception):
    status = 400
    code = 1003

    def __init__(
        self,
        description: str,
        *,
        code: int | None = None,
        status: int | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        reason: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description  # the API's English contract text
        # For the portal (``portal.messages``): which refusal of the *code* this is (when the
        # code has several) and the values its message names; never sent on the wire.
        self.reason = reason
        self.params = dict(params or {})
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.headers = headers or {}


class InvalidJson(ApiError):
    status, code = 400, 1001


class MissingField(ApiError):
    status, code = 400, 1002


class InvalidValue(ApiError):
    status, code = 400, 1003


class InvalidAddress(ApiError):
    status, code = 400, 1004


class Unauthorized(ApiError):
    status, code = 401, 1500


class Forbidden(ApiError):
    status, code = 403, 1300


class NotFound(ApiError):
    status, code = 404, 1100


class Conflict(ApiError):
    status, code = 409, 1200


class Busy(ApiError):
    status, code = 409, 1201


class TooLarge(ApiError):
    status, code = 413, 1400


class UnsupportedMediaType(ApiError):
    status, code = 415, 1401


class MethodNotAllowed(ApiError):
    status, code = 405, 1402


class Unprocessable(ApiError):
    status, code = 422, 1403


class RateLimited(ApiError):
    status, code = 429, 1404


class Unavailable(ApiError):
    status, code = 503, 1600


class ValidationFailed(ApiError):
    """Several field errors at once (used by forms; the API reports the first)."""

    def __init__(self, problems: list[ApiError]) -> None:
        first = problems[0]
        super().__init__(
            first.description,
            code=first.code,
            status=first.status,
            field=first.field,
            reason=first.reason,
            params=first.params,
        )
        self.problems = problems


def printable(text: str) -> str:
    """``text`` made encodable as UTF-8: a description may quote an input that carries an
    unpaired surrogate (``"\\ud800"`` in JSON), which no response could otherwise encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def error_body(errors: list[tuple[str, int]], tracking_id: str) -> dict[str, Any]:
    described = [(printable(d), c) for d, c in errors]
    return {
        "message": described[0][0],
        "errors": [{"description": d, "errorCode": c} for d, c in described],
        "trackingId": tracking_id,
    }


def with_wire_names(exc: ApiError, names: Mapping[str, str]) -> ApiError:
    """``exc`` with each problem's description prefixed by the name its field has on the wire
    (``names``: field -> wire name), unless it starts with it already."""
    problems = getattr(exc, "problems", None) or [exc]
    for problem in problems:
        wire = names.get(problem.field or "")
        if wire and not problem.description.startswith(wire + ":"):
            problem.description = f"{wire}: {problem.description}"
    return ValidationFailed(problems) if len(problems) > 1 else problems[0]


@contextmanager
def wire_names(names: Mapping[str, str]) -> Iterator[None]:
    """Raise the :class:`ApiError` of the block :func:`with_wire_names`."""
    try:
        yield
    except ApiError as exc:
        raise with_wire_names(exc, names) from None
