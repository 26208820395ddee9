"""One sign-in page for everybody, and the account pages. They live in ``sso`` (above
``identity``) because they send a person on to the identity provider that claims their domain.

``/signin`` asks for the email first and sends the person on by the address's **domain**
alone (the page tells nobody whether an address exists), never by whether it has an
account:

* a domain an identity provider claims (``sso_domains``, registered with the IdP): "Continue
  to <IdP>", for every address of that domain, known or not; the IdP's answer then decides
  who is signed in (a partner administrator, or a user of an organization that signs in
  through it; ``sso.service.resolve_user``);
* any other address: the password form, the same page for a partner administrator, a customer
  user and an address nobody has (the password decides; ``/signin/password``).

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
from partnerhub.identity import tasks as identity_tasks
from partnerhub.identity.service import TOO_MANY
from partnerhub.kit import ratelimit
from partnerhub.kit.request_context import origin
from partnerhub.kit.web import unit_of_work
from partnerhub.portal import messages
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, language, render
from partnerhub.sso import api as sso_api
from partnerhub.sso import service as sso
from partnerhub.sso.repository import SignInRepository

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
    """The visitor's portal context: the CSRF token of the forms comes from a signed cookie
    (``portal.session``), nothing is written."""
    return await portal.load(request, create=True)


def _locked_page(request: Request, email: str, refused: RateLimited) -> Response:
    """The answer to an attempt refused by the throttle: the same page whoever the address
    belongs to, 429 with ``Retry-After``."""
    _ = gettext_for(request)
    return render(
        request,
        "sso/locked.html",
        {"message": _(TOO_MANY), "email": email},
        status=429,
        headers=refused.headers,
    )


@router.get("/signin")
async def signin_page(request: Request, next: str | None = None, email: str = "") -> Response:
    await _anonymous(request)
    return render(
        request,
        "sso/signin.html",
        {"next": portal.safe_next(next), "email": email[:320], "error": None},
    )


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
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "sso/signin_password.html",
        {"email": email, "next": next_url, "error": error},
        status=status,
        headers=headers,
    )


@router.post("/signin")
async def signin_route(request: Request) -> Response:
    """The email-first step: one look-up of the address's domain, the same for every address
    (docs/security.md, "Enumeration")."""
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
        route = await sso.route_for(SignInRepository(db), email)
    if route is None:
        return _password_page(request, email, next_url)
    url = _sso_link(route.kind, route.partner_id, route.idp_id, next_url, email)
    return render(
        request, "sso/continue.html", {"email": email, "idp_name": route.name, "url": url}
    )


@router.post("/signin/password")
async def signin_password(request: Request) -> Response:
    """A password for any address: the attempt is counted before the password is checked
    (``identity.count_sign_in_attempt``), every address costs one argon2 verification, and a
    failure gets the same page whoever the address belongs to."""
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    _ = gettext_for(request)
    email = str(form.get("email") or "").strip()[:320]
    password = str(form.get("password") or "")
    next_url = portal.safe_next(str(form.get("next") or "/"))
    settings = portal.settings_of(request)
    async with unit_of_work(request) as db:  # committed before anything is checked
        attempt = await identity.count_sign_in_attempt(db, email, _address(request), settings)
        refused = attempt.refused()
        if refused is not None:  # its audit row is committed with the count
            await org_auth.record_throttled(db, email, "password")
    if refused is not None:
        return _locked_page(request, email, refused)
    language = portal.visitor_language(request)
    admin_cookie = org_cookie = None
    second = False
    async with unit_of_work(request) as db:
        if await SignInRepository(db).admin_by_email(email) is not None:
            try:
                admin, new = await identity.login(
                    db, email, password, settings.session_hours, language=language
                )
                chosen = portal.chosen_language(request)
                if chosen is not None:  # picked on the sign-in page: it becomes theirs
                    admin.language = new.record.language = chosen
                admin_cookie = new.cookie
            except Unauthorized:
                pass
        else:
            outcome = await org_auth.password_login(db, email, password)
            if outcome.ok:
                assert outcome.user is not None
                second = await org_auth.totp_enabled(db, outcome.user.id)
                chosen = portal.chosen_language(request)
                if chosen is not None:  # picked on the sign-in page: it becomes theirs
                    outcome.user.language = chosen
                org_cookie = await org_auth.open_session(
                    db,
                    outcome.user.id,
                    via="password",
                    second_factor_pending=second,
                    language=outcome.user.language or language,
                )
        if admin_cookie or org_cookie:  # the failures are forgiven once the sign-in is done
            await ratelimit.forgive(db, attempt, complete=not second)
    if admin_cookie is not None:
        response = RedirectResponse(next_url, status_code=303)
        portal.set_cookie(response, request, admin_cookie)
        return response
    if org_cookie is None:
        locked = attempt.locked()
        if locked is not None:
            return _locked_page(request, email, locked)
        return _password_page(request, email, next_url, error=_(WRONG), status=401)
    target = "/signin/totp" if second else (next_url if next_url.startswith("/org") else "/org")
    response = RedirectResponse(target, status_code=303)
    org_auth.set_cookie(response, request, org_cookie)
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
    """A second-factor code: counted against the same throttle as passwords (the user's email
    address and the client address) before it is checked."""
    _ = gettext_for(request)
    form = await request.form()
    cookie = request.cookies.get(org_auth.ORG_COOKIE)
    settings = portal.settings_of(request)
    async with unit_of_work(request) as db:  # committed before the code is checked
        access = await org_auth.load_session(db, cookie)
        if access is None or not access.session.second_factor_pending:
            return RedirectResponse("/signin", status_code=303)
        org_auth.check_csrf(access.session, form)
        attempt = await identity.count_sign_in_attempt(
            db, access.user.email, _address(request), settings
        )
        refused = attempt.refused()
        if refused is not None:  # its audit row is committed with the count
            org_auth.record_second_factor_throttled(db, access.user, access.customer)
    if refused is not None:
        return render(
            request,
            "sso/totp.html",
            {"error": _(TOO_MANY), "org_csrf": access.session.csrf_token},
            status=429,
            headers=refused.headers,
        )
    async with unit_of_work(request) as db:
        ok = await org_auth.sign_in_code(db, access.user.id, str(form.get("code") or ""))
        if ok:
            current = await org_auth.load_session(db, cookie)
            if current is not None:
                current.session.second_factor_pending = False
            await ratelimit.forgive(db, attempt)
        else:
            org_auth.log_second_factor_refused(db, access.user, access.customer)
    if not ok:
        locked = attempt.locked()
        return render(
            request,
            "sso/totp.html",
            {
                "error": _(TOO_MANY) if locked else _("Wrong code"),
                "org_csrf": access.session.csrf_token,
            },
            status=429 if locked else 401,
            headers=locked.headers if locked else None,
        )
    return RedirectResponse("/org", status_code=303)


# --- forgotten password ---------------------------------------------------------------------


@router.get("/signin/forgot")
async def forgot_page(request: Request, email: str = "") -> Response:
    await _anonymous(request)
    return render(request, "sso/forgot.html", {"email": email[:320], "sent": False})


@router.post("/signin/forgot")
async def forgot_submit(request: Request) -> Response:
    """The same answer, in the same time, for every address: the request is only counted
    (``identity.reset_request_rules``) and handed to a job that looks the address up, records
    the request in the audit log and sends the link when it is a platform user
    (``identity.tasks.password_reset_request``). A request over the limit is recorded with
    its count (``account.reset_throttled``: one look-up and one row, whoever holds the
    address)."""
    ctx = await portal.load(request)
    form = await portal.form_of(request, ctx)
    email = str(form.get("email") or "").strip()[:320]
    async with unit_of_work(request) as db:
        attempt = await ratelimit.attempt(
            db, identity.reset_request_rules(email, _address(request))
        )
        refused = attempt.refused()
        if refused is not None:
            await org_auth.record_throttled(db, email, "reset", action="account.reset_throttled")
    if refused is None and "@" in email:
        # Over the limit: the same answer, nothing tells whether (or how often) one was sent.
        await identity_tasks.request_password_reset_later(email, origin())
    return render(request, "sso/forgot.html", {"email": email, "sent": True})


# --- links from emails ------------------------------------------------------------------------


def link_refused(request: Request, reason: str) -> Response:
    """The page of a single-use link that cannot be used (404 unknown, 410 used or expired)."""
    _ = gettext_for(request)
    return render(
        request,
        "sso/link_refused.html",
        {"reason": reason, "message": _(LINK_REFUSALS.get(reason, LINK_REFUSALS["invalid"]))},
        status=404 if reason == "invalid" else 410,
    )


def set_password_page(
    request: Request, email: str, purpose: str, error: str | None = None, status: int = 200
) -> Response:
    """The form that sets a password through a single-use link."""
    context: dict[str, Any] = {"email": email, "purpose": purpose, "error": error}
    return render(request, "sso/set_password.html", context, status=status)


async def _link_page(request: Request, token: str, purpose: str) -> Response:
    await _anonymous(request)
    try:
        async with unit_of_work(request) as db:
            _link, user = await org_auth.peek_link(db, token, purpose)
    except org_auth.LinkRefused as exc:
        return link_refused(request, exc.reason)
    return set_password_page(request, user.email, purpose)


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
        async with unit_of_work(request) as db:  # the refused attempt's transaction is gone
            await org_auth.record_link_refused(db, exc, purpose)
        return link_refused(request, exc.reason)
    except ApiError as exc:
        return set_password_page(
            request, email, purpose, messages.described(exc, language(request)), 400
        )
    query = urlencode({"email": email, "next": "/org", "done": purpose})
    return RedirectResponse(f"/signin/done?{query}", status_code=303)


@router.get("/signin/done")
async def password_set(request: Request, email: str = "", done: str = "") -> Response:
    await _anonymous(request)
    return render(
        request,
        "sso/signin_password.html",
        {
            "email": email[:320],
            "next": "/org",
            "error": None,
            "notice": done in (org_auth.INVITATION, org_auth.PASSWORD_RESET),
        },
    )


def _link_routes(purpose: str) -> None:
    """``GET`` shows and ``POST`` takes the set-password form of a link of *purpose*."""
    path = org_auth.LINK_PATHS[purpose] + "/{token}"

    async def page(token: str, request: Request) -> Response:
        return await _link_page(request, token, purpose)

    async def submit(token: str, request: Request) -> Response:
        return await _link_submit(request, token, purpose)

    router.add_api_route(path, page, methods=["GET"], name=f"{purpose}_page")
    router.add_api_route(path, submit, methods=["POST"], name=f"{purpose}_submit")


for _purpose in (org_auth.INVITATION, org_auth.PASSWORD_RESET):
    _link_routes(_purpose)
