"""The customer administrators' portal: ``/org/{customer}/...``.

An organization's administrators see only their organization: users, administrators,
locations, numbers and the emails sent to it, and act within their role
(:mod:`partnerhub.customer_portal.access`). The rules are the domain services' own
(``subscribers.service`` for users and roles); this module only adds who may reach what.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids, runtime
from partnerhub.audit import service as audit_service
from partnerhub.audit import views as audit_views
from partnerhub.catalog import packages as catalog
from partnerhub.catalog.customer_roles import CUSTOMER_ROLES, FULL_ADMIN
from partnerhub.customer_portal import access
from partnerhub.customer_portal.access import OrgContext
from partnerhub.errors import ApiError, Forbidden, NotFound
from partnerhub.identity import org_auth
from partnerhub.identity import service as identity
from partnerhub.kit import ratelimit
from partnerhub.kit.web import unit_of_work
from partnerhub.locations.repository import LocationRepository
from partnerhub.models import OrgUser
from partnerhub.notifications.repository import OutboxRepository
from partnerhub.numbers.repository import NumberFilters, NumberRepository
from partnerhub.portal import messages
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.subscribers import service as subscribers
from partnerhub.subscribers.repository import SubscriberRepository
from partnerhub.subscribers.service import ListQuery, SubscriberInput

router = APIRouter(prefix="/org", include_in_schema=False)
PAGE_SIZE = 100
OrgHandler = Callable[..., Awaitable[Response]]


def _org_page(handler: OrgHandler) -> OrgHandler:
    """A route of one organization's pages: ``{customer_ref}`` becomes the visitor's
    :class:`OrgContext` (or the answer that sends them to sign in) before *handler* runs;
    *handler*'s other parameters are the route's."""

    async def route(customer_ref: str, request: Request, **params: Any) -> Response:
        ctx = await access.resolve(request, customer_ref)
        if isinstance(ctx, Response):
            return ctx
        return await handler(request, ctx, **params)

    functools.update_wrapper(route, handler)
    own = list(inspect.signature(handler).parameters.values())[2:]
    route.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "customer_ref", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str
            ),
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            *own,
        ],
        return_annotation=Response,
    )
    return route


def _page(
    request: Request,
    ctx: OrgContext,
    name: str,
    section: str,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    _ = gettext_for(request)
    context: dict[str, Any] = {
        "org": ctx,
        "customer": ctx.customer,
        "section": section,
        "csrf_token": ctx.csrf_token,
        "can": ctx.can,
        "base": f"/org/{ctx.ref}",
        "roles_text": lambda roles: ", ".join(
            _(CUSTOMER_ROLES[r].label) if r in CUSTOMER_ROLES else r for r in roles or []
        ),
    }
    context.update(extra or {})
    return render(request, f"customer_portal/{name}.html", context, status=status)


@router.get("")
async def home(request: Request) -> Response:
    async with unit_of_work(request) as db:
        found = await org_auth.load_session(db, request.cookies.get(org_auth.ORG_COOKIE))
    if found is None or found.session.second_factor_pending:
        return access.sign_in_redirect(request)
    if access.admin_roles(found.user):
        ref = ids.encode("CUSTOMER", found.customer.id, ids.region_of(found.customer.data_region))
        return RedirectResponse(f"/org/{ref}/users", status_code=303)
    return render(
        request,
        "customer_portal/no_role.html",
        {"user": found.user, "customer": found.customer, "csrf_token": found.session.csrf_token},
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    cookie = request.cookies.get(org_auth.ORG_COOKIE)
    async with unit_of_work(request) as db:
        found = await org_auth.load_session(db, cookie)
        if found is not None:
            org_auth.check_csrf(found.session, form)
            await org_auth.close_session(db, cookie)
    response = RedirectResponse("/signin", status_code=303)
    org_auth.clear_cookie(response)
    return response


@router.get("/{customer_ref}")
@_org_page
async def overview(request: Request, ctx: OrgContext) -> Response:
    return RedirectResponse(f"/org/{ctx.ref}/users", status_code=303)


# --- users ----------------------------------------------------------------------------------


def _user_packages(ctx: OrgContext) -> list[tuple[str, str]]:
    return [
        (p, catalog.PACKAGES[p].label)
        for p in ctx.customer.packages or []
        if p in catalog.PACKAGES and p in catalog.SUBSCRIBER_PACKAGES
    ]


async def _users_page(
    request: Request,
    ctx: OrgContext,
    *,
    error: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    raw_offset = request.query_params.get("offset", "0") or "0"
    offset = int(raw_offset) if raw_offset.isdigit() else 0
    search = (request.query_params.get("q") or "").strip()[:100]
    async with unit_of_work(request) as db:
        repo = SubscriberRepository(db, ctx.principal)
        users = await subscribers.list_subscribers(
            repo, ListQuery(customer_id=ctx.ref, search=search or None), offset, PAGE_SIZE + 1
        )
        locked = {u.id for u in users if await org_auth.is_locked(db, u)}
    return _page(
        request,
        ctx,
        "users",
        "users",
        {
            "users": users[:PAGE_SIZE],
            "more": len(users) > PAGE_SIZE,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "search": search,
            "locked": locked,
            "packages": _user_packages(ctx),
            "uid": lambda u: ids.encode("PEOPLE", u.id, ids.region_of(ctx.customer.data_region)),
            "error": error,
            "notice": notice,
            "form": form or {},
        },
        status=status,
    )


@router.get("/{customer_ref}/users")
@_org_page
async def users(request: Request, ctx: OrgContext) -> Response:
    return await _users_page(request, ctx, notice=request.query_params.get("notice"))


@router.post("/{customer_ref}/users")
@_org_page
async def add_user(request: Request, ctx: OrgContext) -> Response:
    form = await request.form()
    ctx.check_form(form)
    ctx.require("manage_users")
    _ = gettext_for(request)
    keys = ("email", "first_name", "last_name", "package", "extension")
    values = {k: str(form.get(k) or "").strip() for k in keys}
    try:
        async with unit_of_work(request) as db:
            repo = SubscriberRepository(db, ctx.principal)
            user = await subscribers.create(
                repo,
                SubscriberInput(
                    customer=ctx.ref,
                    email=values["email"],
                    package=values["package"] or None,
                    first_name=values["first_name"] or None,
                    last_name=values["last_name"] or None,
                    extension=values["extension"] or None,
                    given=frozenset({"extension"} if values["extension"] else set()),
                ),
            )
            email_id = await org_auth.send_invitation(db, user, ctx.customer, ctx.actor_email)
            access.record(db, ctx, "user.add", {"userId": str(user.id), "email": user.email})
    except ApiError as exc:
        if exc.status in (403, 404) and exc.field is None:
            raise
        return await _users_page(
            request,
            ctx,
            error=messages.described(exc, language(request)),
            form=values,
            status=exc.status,
        )
    await org_auth.deliver_later(email_id)
    return RedirectResponse(f"/org/{ctx.ref}/users?notice=added", status_code=303)


async def _user(db: AsyncSession, ctx: OrgContext, user_ref: str) -> OrgUser:
    repo = SubscriberRepository(db, ctx.principal)
    return await subscribers.user_of(repo, ctx.customer, user_ref)


@router.post("/{customer_ref}/users/{user_ref}/remove")
@_org_page
async def remove_user(request: Request, ctx: OrgContext, user_ref: str) -> Response:
    ctx.check_form(await request.form())
    ctx.require("manage_users")
    _ = gettext_for(request)
    try:
        async with unit_of_work(request) as db:
            user = await _user(db, ctx, user_ref)
            if ctx.org_user is not None and user.id == ctx.org_user.id:
                raise Forbidden("You cannot remove yourself")
            if "full_admin" in (user.roles or []) and not ctx.can("manage_admins"):
                raise Forbidden("Only a full administrator can remove a full administrator")
            await subscribers.delete(SubscriberRepository(db, ctx.principal), user.id)
            access.record(db, ctx, "user.remove", {"userId": str(user.id), "email": user.email})
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _users_page(
            request, ctx, error=messages.described(exc, language(request)), status=exc.status
        )
    return RedirectResponse(f"/org/{ctx.ref}/users?notice=removed", status_code=303)


@router.post("/{customer_ref}/users/{user_ref}/unlock")
@_org_page
async def unlock_user(request: Request, ctx: OrgContext, user_ref: str) -> Response:
    ctx.check_form(await request.form())
    ctx.require("unlock_users")
    async with unit_of_work(request) as db:
        user = await _user(db, ctx, user_ref)
        await org_auth.unlock(db, user.id)
        access.record(db, ctx, "user.unlock", {"userId": str(user.id), "email": user.email})
    return RedirectResponse(f"/org/{ctx.ref}/users?notice=unlocked", status_code=303)


# --- administrators -------------------------------------------------------------------------


async def _admins_page(
    request: Request, ctx: OrgContext, error: str | None = None, status: int = 200
) -> Response:
    async with unit_of_work(request) as db:
        repo = SubscriberRepository(db, ctx.principal)
        _customer, admins = await subscribers.administrators(repo, ctx.ref, 0, 1000)
        everyone = await subscribers.list_subscribers(repo, ListQuery(customer_id=ctx.ref), 0, 1000)
    return _page(
        request,
        ctx,
        "administrators",
        "administrators",
        {
            "admins": admins,
            "everyone": everyone,
            "last_full_admin": _last_full_admin(admins),
            "roles": CUSTOMER_ROLES,
            "uid": lambda u: ids.encode("PEOPLE", u.id, ids.region_of(ctx.customer.data_region)),
            "error": error,
        },
        status=status,
    )


def _last_full_admin(admins: list[OrgUser]) -> OrgUser | None:
    """The organization's only full administrator (its role cannot be taken away), if one."""
    full = [u for u in admins if FULL_ADMIN in (u.roles or [])]
    return full[0] if len(full) == 1 else None


@router.get("/{customer_ref}/administrators")
@_org_page
async def administrators(request: Request, ctx: OrgContext) -> Response:
    return await _admins_page(request, ctx)


@router.post("/{customer_ref}/administrators/{user_ref}")
@_org_page
async def set_roles(request: Request, ctx: OrgContext, user_ref: str) -> Response:
    form = await request.form()
    ctx.check_form(form)
    ctx.require("manage_admins")
    _ = gettext_for(request)
    roles = [str(r) for r in form.getlist("roles")]
    try:
        async with unit_of_work(request) as db:
            user = await _user(db, ctx, user_ref)
            if (
                ctx.org_user is not None
                and user.id == ctx.org_user.id
                and "full_admin" not in roles
            ):
                raise Forbidden("You cannot take your own full administrator role away")
            # Recorded in the audit log by the service (the API's role changes alike).
            await subscribers.set_roles(
                SubscriberRepository(db, ctx.principal), ctx.ref, user_ref, roles
            )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _admins_page(
            request, ctx, messages.described(exc, language(request)), exc.status
        )
    return RedirectResponse(f"/org/{ctx.ref}/administrators", status_code=303)


# --- read-only views ------------------------------------------------------------------------


@router.get("/{customer_ref}/locations")
@_org_page
async def locations(request: Request, ctx: OrgContext) -> Response:
    ctx.principal.require("partnerhub:locations_read")
    async with unit_of_work(request) as db:
        rows = await LocationRepository(db, ctx.principal).page(ctx.customer.id, None, 0, 1000)
    return _page(request, ctx, "locations", "locations", {"locations": rows})


@router.get("/{customer_ref}/numbers")
@_org_page
async def numbers(request: Request, ctx: OrgContext) -> Response:
    ctx.principal.require("partnerhub:numbers_read")
    async with unit_of_work(request) as db:
        rows = await NumberRepository(db, ctx.principal).page(
            NumberFilters(customer_id=ctx.customer.id), 0, 1000
        )
    return _page(request, ctx, "numbers", "numbers", {"numbers": rows})


@router.get("/{customer_ref}/emails")
@_org_page
async def emails(request: Request, ctx: OrgContext) -> Response:
    ctx.require("view")
    async with unit_of_work(request) as db:
        rows = await OutboxRepository(db, ctx.principal).for_customer(ctx.customer.id)
    return _page(request, ctx, "emails", "emails", {"emails": rows})


@router.get("/{customer_ref}/audit")
@_org_page
async def audit_log(request: Request, ctx: OrgContext) -> Response:
    """The organization's audit log (issue 13 item 6): every administrator role of the
    organization may read it, and a partner administrator whose role reads audit logs (not
    sales: ``audit.service.require_reader``)."""
    ctx.require("view")
    audit_service.require_reader(ctx.principal)
    async with unit_of_work(request) as db:
        history = await audit_views.history_context(
            db,
            ctx.principal,
            ctx.customer.id,
            audit_views.query_of(request.query_params),
            gettext_for(request),
        )
    return _page(request, ctx, "audit", "audit", history)


# --- own account: second factor ---------------------------------------------------------------


@router.get("/{customer_ref}/account")
@_org_page
async def account(request: Request, ctx: OrgContext) -> Response:
    if ctx.org_user is None:
        raise NotFound("Page not found")
    async with unit_of_work(request) as db:
        enabled = await org_auth.totp_enabled(db, ctx.org_user.id)
    return _account_page(request, ctx, enabled)


def _account_page(
    request: Request, ctx: OrgContext, totp_enabled: bool, failure: str | None = None, **extra: Any
) -> Response:
    """The own-account page; 400 when *failure* says what went wrong."""
    return _page(
        request,
        ctx,
        "account",
        "account",
        {"totp_enabled": totp_enabled, "setup": None, **extra},
        status=400 if failure else 200,
    )


NEEDS_PROOF = N_(
    "A current code from your authenticator app is needed (or your password and one of your "
    "recovery codes)"
)


def _own_access(request: Request, ctx: OrgContext) -> org_auth.OrgAccess:
    """The signed-in user's own session (never a partner administrator acting inside)."""
    found = getattr(request.state, "org_access", None)
    if ctx.org_user is None or not isinstance(found, org_auth.OrgAccess):
        raise NotFound("Page not found")
    return found


@router.post("/{customer_ref}/account/totp")
@_org_page
async def totp(request: Request, ctx: OrgContext) -> Response:
    """``step=begin`` shows a new authenticator's secret; ``step=confirm`` turns it on with a
    first code (and shows the recovery codes, once); ``step=disable`` turns it off. While a
    second factor is on, ``begin`` and ``disable`` need a current ``code`` of it, or the
    ``password`` plus a ``recovery`` code: a stolen session has neither. Failed
    proofs count like failed sign-ins."""
    own = _own_access(request, ctx)
    form = await request.form()
    ctx.check_form(form)
    _ = gettext_for(request)
    step = str(form.get("step") or "")
    setup = None
    error = None
    recovery = None
    attempt = None
    if step in ("begin", "disable"):  # a proof is a guess like a password: counted first
        attempt = await _count_attempt(request, ctx, f"totp_{step}")
    async with unit_of_work(request) as db:
        if attempt is not None:
            proved = await org_auth.second_factor_proof(
                db,
                own.user,
                str(form.get("code") or ""),
                str(form.get("password") or ""),
                str(form.get("recovery") or ""),
            )
            if proved:
                await ratelimit.forgive(db, attempt)
            if not proved:
                error = _(NEEDS_PROOF)
            elif step == "begin":
                secret, uri = await org_auth.totp_begin(
                    db, own.user, issuer=org_auth.brand_of(ctx.customer)
                )
                setup = {"secret": secret, "uri": uri}
                access.record(db, ctx, "secret.shown", {"secret": "authenticator key"})
            else:
                await org_auth.totp_disable(db, own)
                access.record(db, ctx, "account.totp_off")
        elif step == "confirm":
            recovery = await org_auth.totp_confirm(db, own, str(form.get("code") or ""))
            if recovery is not None:
                access.record(db, ctx, "account.totp_on")
                access.record(db, ctx, "secret.shown", {"secret": "recovery codes"})
            else:
                error = _("Wrong code: the second factor is not on yet")
        enabled = await org_auth.totp_enabled(db, own.user.id)
    return _account_page(request, ctx, enabled, error, setup=setup, error=error, recovery=recovery)


async def _count_attempt(request: Request, ctx: OrgContext, method: str) -> ratelimit.Attempt:
    """Count a guess at the signed-in user's password or second factor in its own transaction,
    before it is checked (the sign-in throttle); 429 when over the limit, recorded with the
    count (``account.proof_throttled``, ``method`` what was to be proved)."""
    address = request.client.host if request.client else "unknown"
    email = ctx.actor_email
    async with unit_of_work(request) as db:
        attempt = await identity.count_sign_in_attempt(db, email, address, runtime.settings())
        refused = attempt.refused()
        if refused is not None:
            detail = {"method": method, "reason": org_auth.TOO_MANY}
            access.record(db, ctx, "account.proof_throttled", detail)
    if refused is not None:
        raise refused
    return attempt


@router.post("/{customer_ref}/account/password")
@_org_page
async def change_password(request: Request, ctx: OrgContext) -> Response:
    """The user changes their own password (the current one, the new one twice); every other
    session of theirs ends."""
    own = _own_access(request, ctx)
    form = await request.form()
    ctx.check_form(form)
    _ = gettext_for(request)
    error = None
    attempt = await _count_attempt(request, ctx, "password_change")
    async with unit_of_work(request) as db:
        try:
            changed = await org_auth.change_password(
                db,
                own,
                str(form.get("current") or ""),
                str(form.get("password") or ""),
                str(form.get("confirm") or ""),
            )
        except ApiError as exc:
            changed, error = False, messages.described(exc, language(request))
        else:
            if changed:
                access.record(db, ctx, "account.password")
                await ratelimit.forgive(db, attempt)
            else:
                error = _("Your current password is not right")
        enabled = await org_auth.totp_enabled(db, own.user.id)
    return _account_page(
        request, ctx, enabled, error, password_error=error, password_changed=changed
    )


def base_url() -> str:
    return runtime.settings().base_url()
