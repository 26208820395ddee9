"""What the partner portal's pages share: a page is shown by ``GET`` (:func:`show`); a submitted
form runs one action in its own transaction; a refusal of the rules shows the form again with
the message and what was typed, a success redirects (303)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.errors import ApiError
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import messages
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.portal.session import PortalContext, require_admin

T = TypeVar("T")
Refused = Callable[[str, int], Awaitable[Response]]
"""The form again: called with the refusal's message (translated) and its status."""
SEE_FIELDS = N_("Some fields need a change: see the messages next to them")


def show(
    router: APIRouter,
    path: str,
    page: Callable[[Request, PortalContext], Awaitable[Response]],
    name: str,
) -> None:
    """Route ``GET path`` (named *name*) to *page* as it stands, for any signed-in
    administrator."""

    async def endpoint(request: Request, ctx: PortalContext = Depends(require_admin)) -> Response:
        return await page(request, ctx)

    endpoint.__name__ = endpoint.__qualname__ = name
    router.add_api_route(path, endpoint, methods=["GET"], name=name)


def form_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    error: str | None,
    status: int,
    form: dict[str, str] | None,
) -> Response:
    """*template* with *context*, the refusal's *error* (None) and the *form* as typed."""
    return render(request, template, {**context, "error": error, "form": form or {}}, status=status)


def described(exc: ApiError) -> str:
    """Every problem of a refusal, in one line (a :class:`ValidationFailed` lists several)."""
    problems = getattr(exc, "problems", None) or [exc]
    return "; ".join(p.description for p in problems)


def values_of(form: Any, keys: Iterable[str]) -> dict[str, str]:
    """The text fields *keys* of a submitted form ("" when absent), to fill the form again."""
    return {k: str(form.get(k) or "") for k in keys}


async def attempt(
    request: Request,
    action: Callable[[AsyncSession], Awaitable[T]],
    refused: Refused,
    *,
    passthrough: Collection[int] = (),
) -> T | Response:
    """What *action* returns, run in one transaction (committed when it returns), or, when
    the rules refuse (:class:`ApiError`, nothing written), the answer of *refused*. Refusals
    with a status in *passthrough* (403, 404) go to the portal's error page instead."""
    try:
        async with unit_of_work(request) as db:
            return await action(db)
    except ApiError as exc:
        if exc.status in passthrough:
            raise
        return await refused(refusal(request, exc), exc.status)


def refusal(request: Request, exc: ApiError) -> str:
    """The page's message for *exc*, in the reader's language; the problems that name a field
    are also put next to that field (``refusal`` in the template's context, keyed by the
    field's name: ``{{ field_error('email') }}`` from ``_forms.html``)."""
    lang = language(request)
    by_field = messages.field_messages(exc, lang, lambda f: messages.field_key(f) or "")
    loose = by_field.pop("", None)
    request.state.refusal = by_field
    if loose is not None:
        return loose
    return str(gettext_for(request)(SEE_FIELDS))


async def submit(
    request: Request,
    action: Callable[[AsyncSession], Awaitable[object]],
    refused: Refused,
    done: str,
    *,
    passthrough: Collection[int] = (),
) -> Response:
    """:func:`attempt`, then a redirect (303) to *done* when it succeeded."""
    outcome = await attempt(request, action, refused, passthrough=passthrough)
    if isinstance(outcome, Response):
        return outcome
    return RedirectResponse(done, status_code=303)
