"""One sign-in page for everybody (issue 5, login routing), and the account pages.

``/signin`` asks for the email first and sends the person to the right method:

* a partner administrator: their password (the partner portal), or their partner's single
  sign-on when the partner has marked an IdP for administrators;
* a user of a customer organization: the method of their organization's authentication
  snapshot: the platform password, or the partner's SAML IdP / OIDC provider it names;
* an email nobody has: the password form, like a platform user (so the page does not tell
  who has an account).

``/signin/password`` checks a password (partner administrators through the partner portal's
rules; organization users with lock-out), ``/signin/totp`` the second factor, ``/signin/forgot``
sends a reset link. ``/account/set-password/{token}`` and ``/account/reset-password/{token}`` use
the single-use links sent by email. The partner portal's own ``/login`` stays as it was.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from partnerhub import ids
from partnerhub.errors import ApiError, RateLimited, Unauthorized
from partnerhub.identity import org_auth
from partnerhub.identity import service as identity
from partnerhub.identity.repository import CredentialRepository
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, render
from partnerhub.sso import api as sso_api
from partnerhub.sso import service as sso
from partnerhub.sso.repository import SignInRepository
from partnerhub.sso.views import refused_page

router = APIRouter(include_in_schema=False)
WRONG = N_("Wrong email or password")
LINK_REFUSALS = {
    "invalid": N_("This link is not valid. Ask for a new one."),
    "expired": N_("This link has expired. Ask for a new one."),
    "used": N_("This link was already used. Ask for a new one if you need to."),
}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _anonymous(request: Request) -> portal.PortalContext:
    """The visitor's (pre-sign-in) portal session, for the CSRF token of the forms."""
    return await portal.load(request, create=True)


def _with_cookie(response: Response, request: Request, ctx: portal.PortalContext) -> Response:
    if ctx.new_cookie:
        portal.set_cookie(response, request, ctx.new_cookie)
    return response


@router.get("/signin")
async def signin_page(request: Request, next: str | None = None, email: str = "") -> Response:
    ctx = await _anonymous(request)
    page = render(
        request,
        "sso/signin.html",
        {"next": portal.safe_next(next), "email": email[:320], "error": None},
    )
    return _with_cookie(page, request, ctx)


def _sso_link(
    kind: str, partner_id: uuid.UUID, idp_id: uuid.UUID, next_url: str, email: str
) -> str:
    ref = sso.partner_ref(partner_id)
    if kind == "saml":
        query = urlencode({"idp": ids.encode(sso_api.SAML_KIND, idp_id, ids.HUB), "next": next_url})
        return f"/sso/saml/{ref}/login?{query}"
    query = urlencode(
        {
            "provider": ids.encode(sso_api.OIDC_KIND, idp_id, ids.HUB),
            "next": next_url,
            "login_hint": email,
        }
    )
    return f"/sso/oidc/{ref}/login?{query}"


def _password_page(
    request: Request,
    email: str,
    next_url: str,
    *,
    error: str | None = None,
    sso_choices: list[dict[str, str]] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "sso/signin_password.html",
        {"email": email, "next": next_url, "error": error, "sso": sso_choices or []},
        status=status,
        headers=headers,
    )


@router.post("/signin")
async def signin_route(request: Request) -> Response:
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    email = str(form.get("email") or "").strip()[:320]
    next_url = portal.safe_next(str(form.get("next") or "/"))
    _ = gettext_for(request)
    if "@" not in email:
        return render(
            request,
            "sso/signin.html",
            {"next": next_url, "email": email, "error": _("Enter your email address")},
            status=400,
        )
    async with unit_of_work(request) as db:
        repo = SignInRepository(db)
        admin = await repo.admin_by_email(email)
        if admin is not None and admin.active:
            saml_idps, oidc_idps = await repo.admin_idps(admin.partner_id)
            choices = [
                {
                    "name": i.display_name or i.entity_id,
                    "url": _sso_link("saml", admin.partner_id, i.id, next_url, email),
                }
                for i in saml_idps
            ] + [
                {"name": p.name, "url": _sso_link("oidc", admin.partner_id, p.id, next_url, email)}
                for p in oidc_idps
            ]
            return _password_page(request, email, next_url, sso_choices=choices)
        found = await repo.org_user_by_email(email)
        if found is None or not org_auth.usable(found[1]):
            return _password_page(request, email, next_url)
        user, customer = found
        method = org_auth.auth_method(customer)
        auth: dict[str, Any] = (customer.settings or {}).get("authentication") or {}
        org_next = next_url if next_url.startswith("/org") else "/org"
        if method == "partner_saml":
            idp = await repo.saml_by_entity(customer.partner_id, str(auth.get("idpEntityId") or ""))
            if idp is None:
                return refused_page(request, "idp_missing", email)
            name = idp.display_name or idp.entity_id
            url = _sso_link("saml", customer.partner_id, idp.id, org_next, email)
        elif method == "partner_oidc":
            provider = await repo.oidc_by_name(
                customer.partner_id, str(auth.get("oidcIdpName") or "")
            )
            if provider is None:
                return refused_page(request, "idp_missing", email)
            name = provider.name
            url = _sso_link("oidc", customer.partner_id, provider.id, org_next, email)
        else:
            return _password_page(request, email, org_next)
    return render(request, "sso/continue.html", {"email": user.email, "idp_name": name, "url": url})


@router.post("/signin/password")
async def signin_password(request: Request) -> Response:
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    email = str(form.get("email") or "").strip()[:320]
    password = str(form.get("password") or "")
    next_url = portal.safe_next(str(form.get("next") or "/"))
    settings = portal.settings_of(request)
    address = _address(request)
    try:
        async with unit_of_work(request) as db:
            await identity.check_login_throttle(
                db, email, address, settings.login_failures_per_window
            )
    except RateLimited as exc:
        return _password_page(
            request, email, next_url, error=_(exc.description), status=429, headers=exc.headers
        )
    async with unit_of_work(request) as db:
        is_admin = await SignInRepository(db).admin_by_email(email) is not None
    if is_admin:
        try:
            async with unit_of_work(request) as db:
                _admin, new = await identity.login(
                    db,
                    email,
                    password,
                    settings.session_hours,
                    language=ctx.session.language if ctx.session else "en",
                )
                if ctx.session is not None:
                    await CredentialRepository(db).delete_session(ctx.session.token_hash)
        except Unauthorized:
            async with unit_of_work(request) as db:
                await identity.record_login_failure(db, email, address)
            return _password_page(request, email, next_url, error=_(WRONG), status=401)
        response = RedirectResponse(next_url, status_code=303)
        portal.set_cookie(response, request, new.cookie)
        return response
    async with unit_of_work(request) as db:  # commits the failure count even when refused
        outcome = await org_auth.password_login(db, email, password)
        cookie = None
        if outcome.ok:
            assert outcome.user is not None
            second = await org_auth.totp_enabled(db, outcome.user.id)
            cookie = await org_auth.open_session(
                db,
                outcome.user.id,
                via="password",
                second_factor_pending=second,
                language=ctx.session.language if ctx.session else "en",
            )
        else:
            await identity.record_login_failure(db, email, address)
    if outcome.locked is not None:
        return render(
            request,
            "sso/locked.html",
            {"message": _(outcome.locked.description), "email": email},
            status=429,
            headers=outcome.locked.headers,
        )
    if cookie is None:
        return _password_page(request, email, next_url, error=_(WRONG), status=401)
    target = "/signin/totp" if second else (next_url if next_url.startswith("/org") else "/org")
    response = RedirectResponse(target, status_code=303)
    org_auth.set_cookie(response, request, cookie)
    return response


# --- second factor ----------------------------------------------------------------------------


@router.get("/signin/totp")
async def totp_page(request: Request) -> Response:
    async with unit_of_work(request) as db:
        access = await org_auth.load_session(db, request.cookies.get(org_auth.ORG_COOKIE))
    if access is None or not access.session.second_factor_pending:
        return RedirectResponse("/signin", status_code=303)
    return render(request, "sso/totp.html", {"error": None, "org_csrf": access.session.csrf_token})


@router.post("/signin/totp")
async def totp_submit(request: Request) -> Response:
    _ = gettext_for(request)
    form = await request.form()
    cookie = request.cookies.get(org_auth.ORG_COOKIE)
    limit = portal.settings_of(request).login_failures_per_window
    async with unit_of_work(request) as db:
        access = await org_auth.load_session(db, cookie)
        if access is None or not access.session.second_factor_pending:
            return RedirectResponse("/signin", status_code=303)
        org_auth.check_csrf(access.session, form)
        try:  # codes are guessed no faster than passwords
            await identity.check_login_throttle(db, access.user.email, _address(request), limit)
        except RateLimited as exc:
            return render(
                request,
                "sso/totp.html",
                {"error": _(exc.description), "org_csrf": access.session.csrf_token},
                status=429,
                headers=exc.headers,
            )
        ok = await org_auth.totp_check(db, access.user.id, str(form.get("code") or ""))
        if ok:
            access.session.second_factor_pending = False
        else:
            await identity.record_login_failure(db, access.user.email, _address(request))
    if not ok:
        return render(
            request,
            "sso/totp.html",
            {"error": _("Wrong code"), "org_csrf": access.session.csrf_token},
            status=401,
        )
    return RedirectResponse("/org", status_code=303)


# --- forgotten password ---------------------------------------------------------------------


@router.get("/signin/forgot")
async def forgot_page(request: Request, email: str = "") -> Response:
    ctx = await _anonymous(request)
    page = render(request, "sso/forgot.html", {"email": email[:320], "sent": False})
    return _with_cookie(page, request, ctx)


@router.post("/signin/forgot")
async def forgot_submit(request: Request) -> Response:
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    email = str(form.get("email") or "").strip()[:320]
    from partnerhub.kit import ratelimit

    email_id = None
    try:
        async with unit_of_work(request) as db:  # a few emails per address per minute
            await ratelimit.hit(db, f"reset:{email.lower()}", limit=3)
            email_id = await org_auth.request_password_reset(db, email)
    except RateLimited:
        pass  # the same answer: nothing tells whether (or how often) an email was sent
    await org_auth.deliver_later(email_id)
    return render(request, "sso/forgot.html", {"email": email, "sent": True})


# --- links from emails ------------------------------------------------------------------------


def _link_refused(request: Request, reason: str) -> Response:
    _ = gettext_for(request)
    return render(
        request,
        "sso/link_refused.html",
        {"reason": reason, "message": _(LINK_REFUSALS.get(reason, LINK_REFUSALS["invalid"]))},
        status=404 if reason == "invalid" else 410,
    )


async def _link_page(request: Request, token: str, purpose: str) -> Response:
    ctx = await _anonymous(request)
    try:
        async with unit_of_work(request) as db:
            _link, user = await org_auth.peek_link(db, token, purpose)
    except org_auth.LinkRefused as exc:
        return _with_cookie(_link_refused(request, exc.reason), request, ctx)
    page = render(
        request,
        "sso/set_password.html",
        {"email": user.email, "purpose": purpose, "error": None},
    )
    return _with_cookie(page, request, ctx)


async def _link_submit(request: Request, token: str, purpose: str) -> Response:
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    password = str(form.get("password") or "")
    confirm = str(form.get("confirm") or "")
    email = ""
    try:
        async with unit_of_work(request) as db:
            _link, user = await org_auth.peek_link(db, token, purpose)
            email = user.email
            if password != confirm:
                raise ApiError("The two passwords differ", field="confirm")
            await org_auth.use_link(db, token, purpose, password)
    except org_auth.LinkRefused as exc:
        return _link_refused(request, exc.reason)
    except ApiError as exc:
        return render(
            request,
            "sso/set_password.html",
            {"email": email, "purpose": purpose, "error": _(exc.description)},
            status=400,
        )
    query = urlencode({"email": email, "next": "/org", "done": purpose})
    return RedirectResponse(f"/signin/done?{query}", status_code=303)


@router.get("/signin/done")
async def password_set(request: Request, email: str = "", done: str = "") -> Response:
    ctx = await _anonymous(request)
    page = render(
        request,
        "sso/signin_password.html",
        {
            "email": email[:320],
            "next": "/org",
            "error": None,
            "sso": [],
            "notice": done in (org_auth.INVITATION, org_auth.PASSWORD_RESET),
        },
    )
    return _with_cookie(page, request, ctx)


@router.get("/account/set-password/{token}")
async def invitation_page(token: str, request: Request) -> Response:
    return await _link_page(request, token, org_auth.INVITATION)


@router.post("/account/set-password/{token}")
async def invitation_submit(token: str, request: Request) -> Response:
    return await _link_submit(request, token, org_auth.INVITATION)


@router.get("/account/reset-password/{token}")
async def reset_page(token: str, request: Request) -> Response:
    return await _link_page(request, token, org_auth.PASSWORD_RESET)


@router.post("/account/reset-password/{token}")
async def reset_submit(token: str, request: Request) -> Response:
    return await _link_submit(request, token, org_auth.PASSWORD_RESET)
