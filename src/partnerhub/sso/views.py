"""Single sign-on endpoints and the partner's identity-provider settings page.

* ``/sso/saml/{partner}/metadata`` (the partner's SP metadata, public), ``/login?idp=``
  (starts an SP-initiated sign-in) and ``/acs`` (the IdP posts its response here);
* ``/sso/oidc/{partner}/login?provider=`` and ``/callback``;
* ``/settings/identity-providers``: register, list and remove the partner's IdPs.

A sign-in is bound to the browser that started it by the ``partnerhub_sso`` cookie (random;
its hash is stored with the attempt). The IdP's POST to the ACS is cross-site, so this cookie is
``SameSite=None`` (and therefore ``Secure``): single sign-on needs HTTPS, or localhost.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.errors import NotFound
from partnerhub.identity import service as identity
from partnerhub.identity.repository import CredentialRepository
from partnerhub.kit.web import unit_of_work
from partnerhub.models.base import utcnow
from partnerhub.portal import forms
from partnerhub.portal import session as portal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, render
from partnerhub.sso import api as sso_api
from partnerhub.sso import service
from partnerhub.sso.repository import IdpRepository, SignInRepository

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
SSO_COOKIE = "partnerhub_sso"

# What the refusal page says, by reason (SignInRefused.reason).
REASONS: dict[str, str] = {
    "unknown_user": N_(
        "There is no user with this email who signs in through this identity provider. "
        "Users are never created at sign-in: ask your administrator to add you."
    ),
    "signature": N_(
        "The identity provider's answer could not be verified: its signature is not valid."
    ),
    "expired": N_("The identity provider's answer has expired. Sign in again."),
    "not_yet_valid": N_(
        "The identity provider's answer is not valid yet; check the clocks and sign in again."
    ),
    "audience": N_("The identity provider's answer was meant for another service."),
    "destination": N_("The identity provider's answer was sent to another address."),
    "issuer": N_("The answer does not come from the identity provider this sign-in was sent to."),
    "unsolicited": N_("This sign-in was not started here. Start again from the sign-in page."),
    "replayed": N_("This sign-in answer was already used. Start again from the sign-in page."),
    "request_expired": N_("The sign-in took too long. Start again from the sign-in page."),
    "browser": N_(
        "This sign-in was started in another browser, or your browser did not return the "
        "sign-in cookie. Start again in this browser."
    ),
    "status": N_("The identity provider did not sign you in."),
    "state": N_("The answer does not belong to a sign-in started here (state mismatch)."),
    "nonce": N_("The identity token does not belong to this sign-in (nonce mismatch)."),
    "token": N_("The identity token could not be obtained or verified."),
    "no_email": N_("The identity provider did not send your email address."),
    "email_unverified": N_("The identity provider has not verified your email address."),
    "idp_unavailable": N_("The identity provider could not be reached. Try again later."),
    "malformed": N_("The identity provider's answer is not a valid SAML response."),
    "invalid": N_("The identity provider's answer could not be verified."),
}


def _partner_id(partner_ref: str) -> uuid.UUID:
    value = ids.decode("PARTNER", partner_ref)
    if value is None:
        raise NotFound("Not Found")
    return value


def _browser_cookie(request: Request) -> tuple[str, bool]:
    """The browser's sign-in binding secret, and whether it is new (to be set)."""
    existing = request.cookies.get(SSO_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing, False
    return secrets.token_urlsafe(32), True


def _bound(response: Response, request: Request, browser: str, new: bool) -> Response:
    """*response*, setting the browser's binding cookie when it is *new*."""
    if new:
        _set_browser_cookie(response, request, browser)
    return response


def _set_browser_cookie(response: Response, request: Request, value: str) -> None:
    settings = portal.settings_of(request)
    response.set_cookie(
        SSO_COOKIE,
        value,
        max_age=settings.sso_request_minutes * 60,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="none" if settings.cookie_secure else "lax",
        path="/sso/",
    )


def refused_page(request: Request, reason: str, email: str | None = None) -> Response:
    _ = gettext_for(request)
    message = REASONS.get(reason, REASONS["invalid"])
    return render(
        request,
        "sso/refused.html",
        {"reason": reason, "message": _(message), "email": email},
        status=400 if reason == "malformed" else 403,
    )


async def _signed_in(request: Request, signed: service.SignedIn) -> Response:
    """Open the session of whoever the IdP signed in and send them on."""
    settings = portal.settings_of(request)
    if signed.admin is not None:
        async with unit_of_work(request) as db:
            admin = await CredentialRepository(db).admin_by_id(signed.admin.id)
            assert admin is not None
            admin.last_login = utcnow()
            service.record_signed_in(db, replace(signed, admin=admin))
            new = identity.start_session(
                db,
                admin.id,
                settings.session_hours,
                admin.language or portal.visitor_language(request),
            )
        response = RedirectResponse(portal.safe_next(signed.next_url), status_code=303)
        portal.set_cookie(response, request, new.cookie)
        return response
    from partnerhub.identity import org_auth

    assert signed.org_user is not None
    async with unit_of_work(request) as db:
        service.record_signed_in(db, signed)
        cookie = await org_auth.open_session(
            db,
            signed.org_user.id,
            via="sso",
            language=signed.org_user.language or portal.visitor_language(request),
        )
    response = RedirectResponse(portal.safe_next(signed.next_url), status_code=303)
    org_auth.set_cookie(response, request, cookie)
    return response


# --- SAML -----------------------------------------------------------------------------------


@router.get("/sso/saml/{partner_ref}/metadata")
async def saml_metadata(partner_ref: str, request: Request) -> Response:
    partner_id = _partner_id(partner_ref)
    async with unit_of_work(request) as db:
        xml = await service.sp_metadata(SignInRepository(db), partner_id)
    return Response(xml, media_type="application/samlmetadata+xml")


@router.get("/sso/saml/{partner_ref}/login")
async def saml_login(
    partner_ref: str, request: Request, idp: str = "", next: str = "/"
) -> Response:
    partner_id = _partner_id(partner_ref)
    browser, new = _browser_cookie(request)
    async with unit_of_work(request) as db:
        authn = await service.start_saml(
            SignInRepository(db),
            partner_id,
            ids.decode(sso_api.SAML_KIND, idp),
            portal.safe_next(next),
            browser,
        )
    response: Response
    if authn.binding == "redirect":
        response = RedirectResponse(authn.url, status_code=303)
    else:
        # The page posts to the IdP: its origin must be allowed as a form target.
        target = urlsplit(authn.url)
        csp = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"frame-ancestors 'none'; form-action 'self' {target.scheme}://{target.netloc}"
        )
        response = render(
            request,
            "sso/post_binding.html",
            {"action": authn.url, "fields": authn.form},
            headers={"Content-Security-Policy": csp},
        )
    return _bound(response, request, browser, new)


@router.post("/sso/saml/{partner_ref}/acs")
async def saml_acs(partner_ref: str, request: Request) -> Response:
    partner_id = _partner_id(partner_ref)
    form = await request.form()
    saml_response = str(form.get("SAMLResponse") or "")
    browser = request.cookies.get(SSO_COOKIE)
    return await _finish(
        request, "SAML", lambda repo: service.finish_saml(repo, partner_id, saml_response, browser)
    )


async def _finish(
    request: Request,
    kind: str,
    finish: Callable[[SignInRepository], Awaitable[service.SignedIn]],
) -> Response:
    """The IdP's answer to an attempt: signed in, or the refusal page (logged). The attempt is
    used up (committed) either way."""
    outcome: service.SignedIn | service.SignInRefused
    async with unit_of_work(request) as db:
        try:
            outcome = await finish(SignInRepository(db))
        except service.SignInRefused as exc:
            outcome = exc
            service.record_refused(db, exc)  # with the attempt it used up
    if isinstance(outcome, service.SignInRefused):
        log.info("%s sign-in refused (%s): %s", kind, outcome.reason, outcome.detail)
        return refused_page(request, outcome.reason, outcome.email)
    return await _signed_in(request, outcome)


# --- OIDC -----------------------------------------------------------------------------------


@router.get("/sso/oidc/{partner_ref}/login")
async def oidc_login(
    partner_ref: str,
    request: Request,
    provider: str = "",
    next: str = "/",
    login_hint: str | None = None,
) -> Response:
    partner_id = _partner_id(partner_ref)
    browser, new = _browser_cookie(request)
    try:
        async with unit_of_work(request) as db:
            url = await service.start_oidc(
                SignInRepository(db),
                partner_id,
                ids.decode(sso_api.OIDC_KIND, provider),
                portal.safe_next(next),
                browser,
                login_hint=(login_hint or "").strip()[:320] or None,
            )
    except service.SignInRefused as exc:
        log.info("OIDC sign-in not started (%s): %s", exc.reason, exc.detail)
        return refused_page(request, exc.reason)
    return _bound(RedirectResponse(url, status_code=303), request, browser, new)


@router.get("/sso/oidc/{partner_ref}/callback")
async def oidc_callback(partner_ref: str, request: Request) -> Response:
    partner_id = _partner_id(partner_ref)
    params = {k: v for k, v in request.query_params.items() if len(v) <= 4096}
    browser = request.cookies.get(SSO_COOKIE)
    return await _finish(
        request, "OIDC", lambda repo: service.finish_oidc(repo, partner_id, params, browser)
    )


# --- settings page ----------------------------------------------------------------------------

PAGE = "/settings/identity-providers"


async def _page(
    request: Request,
    ctx: portal.PortalContext,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    can_manage = ctx.principal.has(service.ADMIN_SCOPE)
    saml_rows: list[object] = []
    oidc_rows: list[object] = []
    if can_manage:
        async with unit_of_work(request) as db:
            saml_list, oidc_list = await service.list_all(IdpRepository(db, ctx.principal))
        saml_rows = [sso_api.present(r) for r in saml_list]
        oidc_rows = [sso_api.present(r) for r in oidc_list]
    partner_id = ctx.principal.partner_id
    return forms.form_page(
        request,
        "sso/identity_providers.html",
        {
            "saml": saml_rows,
            "oidc": oidc_rows,
            "can_manage": can_manage,
            "sp_entity_id": service.sp_entity_id(partner_id),
            "acs_url": service.acs_url(partner_id),
            "redirect_uri": service.oidc_redirect_uri(partner_id),
            "saved": request.query_params.get("saved") == "1",
        },
        error,
        status,
        form,
    )


forms.show(router, PAGE, _page, "identity_providers")


def _checked(form: Any, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


@router.post(PAGE + "/saml")
async def add_saml(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    values = forms.values_of(form, ("metadata_url", "display_name", "email_attribute", "domains"))
    upload = form.get("metadata_file")
    xml = str(form.get("metadata_xml") or "")
    if upload is not None and not isinstance(upload, str):
        limit = portal.settings_of(request).sso_metadata_max_bytes
        raw = await upload.read(limit + 1)
        if raw:
            xml = raw.decode("utf-8", errors="replace")
    data = service.SamlInput(
        metadata_xml=xml or None,
        metadata_url=values["metadata_url"] or None,
        display_name=values["display_name"],
        email_attribute=values["email_attribute"] or None,
        for_administrators=_checked(form, "for_administrators"),
        domains=service.split_domains(values["domains"]),
    )
    return await _save(request, ctx, service.create_saml, data, {**values, "kind": "saml"})


async def _save(
    request: Request,
    ctx: portal.PortalContext,
    create: Callable[[IdpRepository, Any], Awaitable[object]],
    data: object,
    values: dict[str, str],
) -> Response:
    """Register a provider; a refusal shows the page again with the form as typed."""

    async def register(db: AsyncSession) -> object:
        return await create(IdpRepository(db, ctx.principal), data)

    refused = partial(_page, request, ctx, form=values)
    return await forms.submit(request, register, refused, PAGE + "?saved=1", passthrough=(403, 404))


@router.post(PAGE + "/oidc")
async def add_oidc(
    request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    form = await portal.form_of(request, ctx)
    values = forms.values_of(
        form, ("name", "issuer", "client_id", "discovery_url", "scopes", "domains")
    )
    data = service.OidcInput(
        name=values["name"],
        issuer=values["issuer"],
        client_id=values["client_id"],
        client_secret=str(form.get("client_secret") or ""),
        discovery_url=values["discovery_url"] or None,
        scopes=values["scopes"] or None,
        for_administrators=_checked(form, "for_administrators"),
        domains=service.split_domains(values["domains"]),
    )
    return await _save(request, ctx, service.create_oidc, data, {**values, "kind": "oidc"})


@router.post(PAGE + "/{provider_id}/delete")
async def delete_provider(
    provider_id: str, request: Request, ctx: portal.PortalContext = Depends(portal.require_admin)
) -> Response:
    await portal.form_of(request, ctx)

    async def delete(db: AsyncSession) -> None:
        repo = IdpRepository(db, ctx.principal)
        saml_id = ids.decode(sso_api.SAML_KIND, provider_id)
        if saml_id is not None:
            await service.delete_saml(repo, saml_id)
        else:
            await service.delete_oidc(repo, ids.decode(sso_api.OIDC_KIND, provider_id))

    refused = partial(_page, request, ctx)
    return await forms.submit(request, delete, refused, PAGE, passthrough=(403, 404))
