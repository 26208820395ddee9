"""Portal sessions: cookie ↔ server-side row, CSRF on every form, the signed-in principal."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from partnerhub.config import Settings
from partnerhub.errors import Forbidden
from partnerhub.identity import service as identity
from partnerhub.identity.service import principal_for_admin
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.models import PartnerAdmin, PortalSession
from partnerhub.portal.i18n import N_

COOKIE = "partnerhub_session"
CSRF_MESSAGE = N_("The form has expired or did not come from this site; reload and retry.")


@dataclass
class PortalContext:
    session: PortalSession | None
    admin: PartnerAdmin | None
    new_cookie: str | None = None

    @property
    def principal(self) -> Principal:
        if self.admin is None:
            raise Forbidden("Sign in first")
        return principal_for_admin(self.admin)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def set_cookie(response: Response, request: Request, value: str) -> None:
    settings = settings_of(request)
    response.set_cookie(
        COOKIE,
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


async def load(request: Request, create: bool = False) -> PortalContext:
    """The request's portal context; ``create`` starts an anonymous session (for CSRF)."""
    existing = getattr(request.state, "portal", None)
    if isinstance(existing, PortalContext):
        return existing
    async with unit_of_work(request) as db:
        record, admin = await identity.load_session(db, request.cookies.get(COOKIE))
        ctx = PortalContext(record, admin)
        if record is None and create:
            from partnerhub.portal.i18n import negotiate

            lang = negotiate(request.headers.get("accept-language"))
            new = identity.start_session(db, None, 1, lang)
            ctx = PortalContext(new.record, None, new_cookie=new.cookie)
    request.state.portal = ctx
    return ctx


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


async def partner_suspended(request: Request, partner_id: Any) -> bool:
    """True when the partner is a sub-partner whose provisioning state is ``suspended``."""
    from partnerhub.models import Partner

    async with unit_of_work(request) as db:
        partner = await db.get(Partner, partner_id)
    return (
        partner is not None
        and partner.parent_id is not None
        and partner.provisioning_state == "suspended"
    )


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
    sent = str(form.get("csrf_token") or "")
    expected = ctx.session.csrf_token if ctx.session else ""
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
