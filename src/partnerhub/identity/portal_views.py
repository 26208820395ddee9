"""The partner portal's own pages: sign-in, sign-out, language, home, API tokens, the audit
log."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub.audit import service as audit
from partnerhub.audit import views as audit_views
from partnerhub.catalog.languages import PORTAL_LOCALES
from partnerhub.catalog.roles import ALL_SCOPES, PARTNER_ROLES, SCOPE_DESCRIPTIONS
from partnerhub.errors import ApiError, Forbidden, NotFound, Unauthorized
from partnerhub.identity import org_auth
from partnerhub.identity import service as identity
from partnerhub.identity.repository import AdminRepository, CredentialRepository
from partnerhub.identity.service import TOO_MANY
from partnerhub.kit import ratelimit
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import forms, messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)
# Refusals of identity.create_token that the tokens page shows (marked for translation).
TOKEN_MESSAGES = (
    N_("name: a token name is required"),
    N_("name: at most 200 characters"),
    N_("scopes: at least one scope is required"),
    N_("expires: must be in the future"),
)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    ctx = await portal.load(request, create=True)
    if ctx.admin is not None:
        return RedirectResponse(portal.safe_next(next), status_code=303)
    return render(
        request,
        "login.html",
        {
            "next": portal.safe_next(next),
            "error": None,
            "cookie_refused": portal.secure_cookie_refused(request),
        },
    )


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """The partner administrators' password: counted before it is checked (the throttle and
    lock-out of ``identity.sign_in_rules``), one argon2 verification for every address, the
    same page for every failure."""
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    next_url = portal.safe_next(str(form.get("next") or "/"))
    _ = gettext_for(request)
    email = str(form.get("email") or "")[:320]
    address = request.client.host if request.client else "unknown"
    settings = portal.settings_of(request)
    async with unit_of_work(request) as db:  # committed before the password is checked
        attempt = await identity.count_sign_in_attempt(db, email, address, settings)
        refused = attempt.refused()
        if refused is not None:  # its audit row is committed with the count
            await org_auth.record_throttled(db, email, "password", org_users=False)
    new = None
    if refused is None:
        async with unit_of_work(request) as db:
            try:
                admin, new = await identity.login(
                    db,
                    email,
                    str(form.get("password") or ""),
                    settings.session_hours,
                    language=portal.visitor_language(request),
                )
            except Unauthorized:
                pass
            else:
                chosen = portal.chosen_language(request)
                if chosen is not None:  # picked on the sign-in page: it becomes theirs
                    admin.language = new.record.language = chosen
                await ratelimit.forgive(db, attempt)
    if new is None:
        locked = refused or attempt.locked()
        return render(
            request,
            "login.html",
            {
                "next": next_url,
                "error": _(TOO_MANY) if locked else _("Wrong email or password"),
                "email": email,
            },
            status=429 if locked else 401,
            headers=locked.headers if locked else None,
        )
    response = RedirectResponse(next_url, status_code=303)
    portal.set_cookie(response, request, new.cookie)
    if portal.LANGUAGE_COOKIE in request.cookies:  # the choice is the administrator's now
        response.delete_cookie(
            portal.LANGUAGE_COOKIE,
            path="/",
            httponly=True,
            secure=settings.cookie_secure,
            samesite="lax",
        )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = await portal.load(request)
    await portal.form_of(request, ctx)
    if ctx.session is not None:
        async with unit_of_work(request) as db:
            await CredentialRepository(db).delete_session(ctx.session.token_hash)
    response = RedirectResponse("/login", status_code=303)
    portal.clear_cookie(response, request)
    return response


@router.post("/language")
async def set_language(request: Request) -> Response:
    """The language of the portal: the administrator's (stored), a customer-portal user's
    (stored: ``org_users.language``), or, for a visitor, a cookie (nothing is written for
    someone who has not signed in)."""
    ctx = await portal.load(request, create=True)
    form = await request.form()
    org_user_id = None
    if ctx.session is None:  # a customer-portal user's pages carry their session's token
        async with unit_of_work(request) as db:
            access = await org_auth.load_session(db, request.cookies.get(org_auth.ORG_COOKIE))
        sent = str(form.get("csrf_token") or "").encode()
        if access is not None and hmac.compare_digest(sent, access.session.csrf_token.encode()):
            org_user_id = access.user.id
    if org_user_id is None:
        portal.check_csrf(ctx, form)
    lang = str(form.get("lang") or "en")
    response = RedirectResponse(portal.safe_next(str(form.get("next") or "/")), status_code=303)
    if lang not in PORTAL_LOCALES:
        return response
    if ctx.session is None:
        portal.set_language_cookie(response, request, lang)
        if org_user_id is not None:  # the pick is the user's, remembered on any browser
            async with unit_of_work(request) as db:
                access = await org_auth.load_session(db, request.cookies.get(org_auth.ORG_COOKIE))
                if access is not None:
                    access.user.language = access.session.language = lang
        return response
    async with unit_of_work(request) as db:
        record = await CredentialRepository(db).session_by_hash(ctx.session.token_hash)
        if record is not None:
            record.language = lang
        if ctx.admin is not None:
            admin = await CredentialRepository(db).admin_by_id(ctx.admin.id)
            if admin is not None:
                admin.language = lang
    return response


@router.get("/")
async def home(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    return RedirectResponse("/customers/templates", status_code=303)


# --- API tokens ---------------------------------------------------------------------------


async def _tokens_page(
    request: Request,
    ctx: portal.PortalContext,
    created: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: Any = None,
) -> Response:
    async with unit_of_work(request) as db:
        tokens = await AdminRepository(db, ctx.principal).list_tokens()
    assert ctx.admin is not None
    grantable = [s for s in ALL_SCOPES if s in PARTNER_ROLES[ctx.admin.role].scopes]
    return render(
        request,
        "tokens.html",
        {
            "tokens": tokens,
            "created": created,
            "error": error,
            "scopes": grantable,
            "scope_descriptions": SCOPE_DESCRIPTIONS,
            "can_manage": ctx.principal.has("partnerhub:admin"),
            "revoked": request.query_params.get("revoked") == "1",
            "form_name": form.get("name") if form is not None else "",
            "form_scopes": set(form.getlist("scopes")) if form is not None else set(),
            "form_expires": form.get("expires") if form is not None else "90d",
        },
        status=status,
    )


forms.show(router, "/settings/tokens", _tokens_page, "tokens")


@router.post("/settings/tokens")
async def create_token(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    if not ctx.principal.has("partnerhub:admin"):
        raise Forbidden(N_("Your role cannot manage API tokens"))
    _ = gettext_for(request)
    try:
        async with unit_of_work(request) as db:
            new = identity.create_token(
                db,
                ctx.principal.partner_id,
                str(form.get("name") or ""),
                [str(s) for s in form.getlist("scopes")],
                identity.parse_duration(str(form.get("expires") or "90d")),
                created_by=ctx.admin,
            )
    except ApiError as exc:
        return await _tokens_page(
            request,
            ctx,
            error=messages.described(exc, language(request)),
            status=exc.status,
            form=form,
        )
    return await _tokens_page(request, ctx, created=new.secret)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    await portal.form_of(request, ctx)
    if not ctx.principal.has("partnerhub:admin"):
        raise Forbidden(N_("Your role cannot manage API tokens"))
    try:
        token_uuid = uuid.UUID(token_id)
    except ValueError:
        raise NotFound(N_("Token not found")) from None
    async with unit_of_work(request) as db:
        await identity.revoke_token(AdminRepository(db, ctx.principal), token_uuid)
    return RedirectResponse("/settings/tokens?revoked=1", status_code=303)


# --- the audit log ----------------------------------------------------------------------------


@router.get("/audit")
async def audit_log(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    """The partner's own audit log (administrators, tokens, templates, settings, sign-ins), or
    (``?org=``) a direct sub-partner's; each customer's is on its page. ``audit:events_read``
    or ``partnerhub:admin`` (sales: 403)."""
    ctx.principal.require(audit.READ, audit.ADMIN)
    async with unit_of_work(request) as db:
        history = await audit_views.history_context(
            db,
            ctx.principal,
            None,
            audit_views.query_of(request.query_params),
            gettext_for(request),
            sub_partners=True,
        )
    return render(request, "audit/page.html", history)
