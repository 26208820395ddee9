"""Portal sessions: cookie ↔ server-side row, CSRF on every form, the signed-in principal.

A session row exists only for a signed-in administrator: it is written at a successful sign-in
and nowhere else. A visitor who has not signed in writes nothing (docs/security.md, "Anonymous
visitors"): the CSRF token of the sign-in forms is a signed double-submit token (a random value
in the ``partnerhub_csrf`` cookie, the form carrying its HMAC under the server key), and the
language picked on the sign-in page lives in the ``partnerhub_lang`` cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.catalog.languages import PORTAL_LOCALES
from partnerhub.config import Settings
from partnerhub.errors import Forbidden
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import CsrfFailed, unit_of_work
from partnerhub.models import PartnerAdmin, PortalSession
from partnerhub.portal.i18n import N_

COOKIE = "partnerhub_session"
CSRF_COOKIE = "partnerhub_csrf"
LANGUAGE_COOKIE = "partnerhub_lang"
CSRF_PURPOSE = "anonymous-csrf"
CSRF_MESSAGE = N_("The form has expired or did not come from this site; reload and retry.")


@dataclass(frozen=True)
class Plugins:
    """What the portal reads of the domains, plugged in by the app with :func:`install` (the
    domains' pages render through the portal, so the portal imports no domain module):

    * ``load_session``: the signed-in administrator's session row, the administrator and
      their principal, for a session cookie (``identity.service.admin_session``); Nones when
      the cookie names no live session of an active administrator;
    * ``server_secret`` and ``derive``: the installation's secret and the key derived from it
      for a purpose (``identity.keys``), which sign the CSRF tokens of visitors;
    * ``partner_suspended``: whether a partner is a suspended sub-partner
      (``partners.service.suspended_sub_partner``).
    """

    load_session: Callable[
        [AsyncSession, str],
        Awaitable[tuple[PortalSession | None, PartnerAdmin | None, Principal | None]],
    ]
    server_secret: Callable[[AsyncSession], Awaitable[bytes]]
    derive: Callable[[bytes, str], bytes]
    partner_suspended: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]


def install(app: FastAPI, plugins: Plugins) -> None:
    app.state.portal_plugins = plugins


def plugins_of(request: Request) -> Plugins:
    plugins: Plugins | None = getattr(request.app.state, "portal_plugins", None)
    if plugins is None:
        raise RuntimeError("portal.session.install(app, Plugins(...)) was not called")
    return plugins


@dataclass
class PortalContext:
    session: PortalSession | None
    admin: PartnerAdmin | None
    admin_principal: Principal | None = None
    # A visitor without a session: the CSRF cookie's random value (new_csrf_cookie when this
    # response must set it) and the token the forms carry (its HMAC).
    anonymous_csrf: str = ""
    new_csrf_cookie: str | None = None

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token if self.session is not None else self.anonymous_csrf

    @property
    def principal(self) -> Principal:
        if self.admin is None or self.admin_principal is None:
            raise Forbidden("Sign in first")
        return self.admin_principal


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def set_cookie(response: Response, request: Request, value: str, name: str = COOKIE) -> None:
    """A session cookie (the partner portal's, or ``name``): HTTP only, Secure when
    configured, for the configured session length."""
    settings = settings_of(request)
    response.set_cookie(
        name,
        value,
        max_age=settings.session_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def secure_cookie_refused(request: Request) -> bool:
    """True when a browser will drop the Secure session cookie: plain HTTP to a host that is
    not loopback (browsers accept Secure cookies over http only from localhost/127.0.0.1)."""
    host = (request.url.hostname or "").lower()
    return (
        settings_of(request).cookie_secure
        and request.url.scheme == "http"
        and host not in LOOPBACK_HOSTS
        and not host.startswith("127.")
    )


def clear_cookie(response: Response, request: Request) -> None:
    """Expire the session cookie with the flags it was set with (a browser keeps a Secure
    cookie that a deletion without Secure tries to overwrite)."""
    response.delete_cookie(
        COOKIE,
        path="/",
        httponly=True,
        secure=settings_of(request).cookie_secure,
        samesite="lax",
    )


_csrf_keys: dict[bytes, bytes] = {}


async def _csrf_key(request: Request) -> bytes:
    """The HMAC key of anonymous CSRF tokens, derived from the server secret (kept in memory:
    the secret never changes for an installation, and a page view then reads nothing)."""
    identity = plugins_of(request)
    configured = settings_of(request).secret_key
    if configured:
        secret = configured.encode()
    else:
        cached = _csrf_keys.get(b"stored")
        if cached is not None:
            return cached
        async with unit_of_work(request) as db:
            secret = await identity.server_secret(db)
    key = _csrf_keys.get(secret)
    if key is None:
        key = _csrf_keys[secret] = identity.derive(secret, "hmac:" + CSRF_PURPOSE)
        if not configured:
            _csrf_keys[b"stored"] = key
    return key


def _csrf_mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _csrf_value(request: Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE) or ""
    return value if 20 <= len(value) <= 100 and value.isascii() else None


async def load(request: Request, create: bool = False) -> PortalContext:
    """The request's portal context. Without a session, the visitor's CSRF token is derived
    from the ``partnerhub_csrf`` cookie (a new random one when absent; :func:`render` sets it):
    nothing is written. ``create`` is kept for the callers that show a form to a visitor."""
    existing = getattr(request.state, "portal", None)
    if isinstance(existing, PortalContext):
        return existing
    record = admin = principal = None
    cookie = request.cookies.get(COOKIE)
    if cookie and len(cookie) <= 100:
        async with unit_of_work(request) as db:
            record, admin, principal = await plugins_of(request).load_session(db, cookie)
    ctx = PortalContext(record, admin, principal)
    if record is None:
        value = _csrf_value(request)
        if value is None:
            value = ctx.new_csrf_cookie = secrets.token_urlsafe(32)
        ctx.anonymous_csrf = _csrf_mac(await _csrf_key(request), value)
    request.state.portal = ctx
    return ctx


def set_csrf_cookie(response: Response, request: Request, value: str) -> None:
    """The anonymous CSRF cookie: HttpOnly, SameSite=Lax, Secure like the session cookie."""
    response.set_cookie(
        CSRF_COOKIE,
        value,
        max_age=settings_of(request).session_hours * 3600,
        httponly=True,
        secure=settings_of(request).cookie_secure,
        samesite="lax",
        path="/",
    )


def chosen_language(request: Request) -> str | None:
    """The language a visitor picked before signing in (the ``partnerhub_lang`` cookie)."""
    value = request.cookies.get(LANGUAGE_COOKIE)
    return value if value in PORTAL_LOCALES else None


def visitor_language(request: Request) -> str:
    """The language of a visitor who signs in: the one picked, else the browser's."""
    from partnerhub.portal.i18n import negotiate

    return chosen_language(request) or negotiate(request.headers.get("accept-language"))


def set_language_cookie(response: Response, request: Request, lang: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        httponly=True,
        secure=settings_of(request).cookie_secure,
        samesite="lax",
        path="/",
    )


async def require_admin(request: Request) -> PortalContext:
    """Dependency of every signed-in page: redirects to the login page otherwise."""
    ctx = await load(request)
    if ctx.admin is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return ctx


# The API refuses a suspended sub-partner everything but reading and deleting (CONTRACT section
# 5, partners.service.refuse_if_suspended); the portal's pages that provision or change
# customers, subscribers, numbers, imports or installation requests do the same for the
# sub-partner's own administrators.
SUSPENDED_MESSAGE = N_("The sub-partner is suspended: it can only view and delete customers.")


async def partner_suspended(request: Request, partner_id: uuid.UUID) -> bool:
    """True when the partner is a sub-partner whose provisioning state is ``suspended``."""
    async with unit_of_work(request) as db:
        return await plugins_of(request).partner_suspended(db, partner_id)


async def require_active_admin(request: Request) -> PortalContext:
    """Dependency of the pages that provision or change customers, subscribers, numbers,
    imports or installation requests: :func:`require_admin`, and 403 when the administrator's
    partner is a suspended sub-partner."""
    ctx = await require_admin(request)
    assert ctx.admin is not None
    if await partner_suspended(request, ctx.admin.partner_id):
        raise Forbidden(SUSPENDED_MESSAGE)
    return ctx


def check_csrf(ctx: PortalContext, form: Any) -> None:
    """The form's token against the session's, or, for a visitor without a session, against
    the HMAC of the CSRF cookie the request carries (a new cookie made by this very request
    proves nothing: refused). Compared in constant time."""
    sent = str(form.get("csrf_token") or "")
    expected = ctx.csrf_token if ctx.session is not None or ctx.new_csrf_cookie is None else ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()


async def form_of(request: Request, ctx: PortalContext) -> Any:
    """The posted form, after the CSRF check."""
    form = await request.form()
    check_csrf(ctx, form)
    return form


def login_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_url)}", status_code=303)


def safe_next(value: str | None) -> str:
    """Only same-site paths are valid redirect targets after login."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
