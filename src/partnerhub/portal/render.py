"""Jinja2 rendering with translations, CSRF token and the signed-in administrator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from partnerhub.catalog.packages import PACKAGES
from partnerhub.portal.i18n import N_, translations

TEMPLATE_DIRS = [Path(__file__).parent / "templates"]

env = Environment(
    loader=FileSystemLoader([str(p) for p in TEMPLATE_DIRS]),
    autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


def package_label(name: str) -> str:
    """A package's English name (the message id of its translation); an unknown id as is."""
    package = PACKAGES.get(name)
    return package.label if package is not None else name


def language(request: Request) -> str:
    portal = getattr(request.state, "portal", None)
    if portal is not None and portal.session is not None:
        return str(portal.session.language)
    org_access = getattr(request.state, "org_access", None)  # a customer-portal user
    picked = getattr(getattr(org_access, "user", None), "language", None)
    if picked:  # the user's own pick (org_users.language), on any browser
        return str(picked)
    from partnerhub.portal.i18n import negotiate
    from partnerhub.portal.session import chosen_language

    return chosen_language(request) or negotiate(request.headers.get("accept-language"))


def gettext_for(request: Request) -> Any:
    return translations(language(request)).gettext


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = language(request)
    trans = translations(lang)
    portal = getattr(request.state, "portal", None)
    ctx: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "portal": portal,
        "admin": portal.admin if portal else None,
        "csrf_token": portal.csrf_token if portal else "",
        "_": trans.gettext,
        "refusal": getattr(request.state, "refusal", None) or {},
        # a package by its name in the reader's language (``webex_calling`` -> Webex Calling)
        "package_label": lambda name: trans.gettext(package_label(name)),
        # an e-mail's delivery state (outbox_emails.status) in the reader's language
        "mail_state": lambda state: trans.gettext(MAIL_STATES.get(state) or str(state)),
    }
    ctx.update(context or {})
    template = env.get_template(name)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        trans.gettext, trans.ngettext, newstyle=True
    )
    html = template.render(ctx)
    response = HTMLResponse(html, status_code=status, headers=headers)
    if portal is not None and portal.new_csrf_cookie:  # a visitor's first form (no row)
        from partnerhub.portal.session import set_csrf_cookie

        set_csrf_cookie(response, request, portal.new_csrf_cookie)
    return response


MAIL_STATES = {
    "pending": N_("Waiting to be sent"),
    "sent": N_("Sent"),
    "stored": N_("Stored (no SMTP server)"),
    "failed": N_("Failed"),
}

ERROR_TITLES = {
    400: N_("The request was refused"),
    401: N_("Sign in first"),
    403: N_("Not permitted"),
    404: N_("Page not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
}
# Messages raised outside the portal that its error page shows: marked here for extraction.
SHOWN_MESSAGES = (
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Sign in first"),
    N_("Onboarding template not found"),
    N_("Token not found"),
    N_("No sub-partner of yours has this organization id"),
    N_("Missing scope: partnerhub:sub_partners_write"),
)


async def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """An HTML error page; ``title`` and ``detail`` are translated when the catalog has them."""
    return render(
        request,
        "error.html",
        {"status": status, "title": ERROR_TITLES.get(status, N_("Error")), "detail": detail},
        status=status,
    )
