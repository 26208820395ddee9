"""``offset``/``max`` pagination with an absolute ``Link: <...>; rel="next"`` header, and the
parsers of the other typed query parameters (absent is the default; given empty is a 400).

Every list route pages the same way::

    @router.get("")
    async def list_things(request: Request, response: Response, ...,
                          principal: Principal = Depends(api_principal),
                          page: Page = Depends(paging(default=100, limit=1000))):
        async with unit_of_work(request) as session:
            rows = await service.list_things(repo, ..., page.offset, page.fetch)
            return {"items": present(page_rows(request, response, page, rows))}

``page`` comes after the principal, so a caller without a valid token hears 401 first. A list
the service reads whole takes ``page.window(rows)`` instead of ``offset``/``fetch``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from pydantic import WithJsonSchema

from partnerhub.errors import InvalidValue

MAX_OFFSET = 2**31 - 1  # beyond any real list; larger values would overflow SQL OFFSET


def _integer(minimum: int, maximum: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum})


# ``offset`` and ``max`` as documented in /openapi.json (read as text: see kit.schemas).
OffsetQuery = Annotated[str | None, _integer(0, MAX_OFFSET), Query()]
Max100Query = Annotated[str | None, _integer(1, 100), Query()]
Max1000Query = Annotated[str | None, _integer(1, 1000), Query()]
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    offset: int
    max: int

    @property
    def fetch(self) -> int:
        """How many rows to read: one more than the page shows tells whether more remain."""
        return self.max + 1

    def window(self, rows: Sequence[T]) -> list[T]:
        """This page's rows (and the one that tells) of a list read whole."""
        return list(rows[self.offset : self.offset + self.fetch])


def page_params(offset: str | int | None, max_: str | int | None, default: int, limit: int) -> Page:
    """Parse offset/max (strings or integers on the wire) and check their range. Absent (None)
    is the default; given empty (``?max=``) is a 400 like any other value that is no integer."""

    def parse(name: str, raw: str | int | None, fallback: int) -> int:
        if raw is None:
            return fallback
        if isinstance(raw, str) and not raw.strip():
            raise InvalidValue(f"{name}: an empty value is not an integer", field=name)
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise InvalidValue(f"{name}: '{raw}' is not an integer", field=name) from None
        return value

    off = parse("offset", offset, 0)
    mx = parse("max", max_, default)
    if off < 0 or off > MAX_OFFSET:
        raise InvalidValue(f"offset: {off} must be between 0 and {MAX_OFFSET}", field="offset")
    if mx < 1 or mx > limit:
        raise InvalidValue(f"max: {mx} must be between 1 and {limit}", field="max")
    return Page(off, mx)


def query_bool(name: str, raw: str | None) -> bool | None:
    """A boolean query parameter: ``true``/``1`` or ``false``/``0``; absent (None) is None;
    anything else, given empty included, is a 400 (``InvalidValue``)."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidValue(f"{name}: '{raw}' is not true or false", field=name)


def set_next_link(request: Request, response: Response, page: Page, has_more: bool) -> None:
    """Add the ``Link`` header when more items remain; it repeats every query parameter."""
    if not has_more:
        return
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "max")]
    params += [("offset", str(page.offset + page.max)), ("max", str(page.max))]
    next_url = str(request.url.replace(query=urlencode(params)))
    response.headers["Link"] = f'<{next_url}>; rel="next"'


def paging(default: int = 100, limit: int = 1000) -> Callable[[str | None, str | None], Page]:
    """The dependency of a list route: its ``offset`` and ``max`` query parameters (documented
    as integers), parsed and checked by :func:`page_params`."""

    max_query = Annotated[str | None, _integer(1, limit), Query()]

    def page(offset: OffsetQuery = None, max: max_query = None) -> Page:
        return page_params(offset, max, default, limit)

    # the annotations as objects: a string naming the local max_query cannot be resolved by
    # FastAPI (from the module's globals), which made every list route with paging() a 500
    page.__annotations__ = {"offset": OffsetQuery, "max": max_query, "return": Page}
    return page


def page_rows(request: Request, response: Response, page: Page, rows: Sequence[T]) -> list[T]:
    """The rows the page shows, of ``rows`` read with ``page.fetch`` (or ``page.window``), and
    the ``Link`` header when more remain."""
    set_next_link(request, response, page, has_more=len(rows) > page.max)
    return list(rows[: page.max])
