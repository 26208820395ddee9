"""The page where a user consents to moving into a customer organization.

``consentMove`` emails the user a link ``/consent/<token>``; the token (256-bit random, stored
hashed, replaced by every new ``consentMove``, valid for ``PARTNERHUB_INVITATION_HOURS``) only
finds the request. The move takes the user out of another organization, often another partner's,
so it is decided by that user alone, signed in to the customer portal with the account that
moves (a password and second factor, or their organization's single sign-on): the page shows
the accept form only to that session (its CSRF token), and accepting checks it again
(:func:`partnerhub.subscribers.service.complete_move`). Anybody else who opens the link (the
requesting partner, an anonymous visitor, another user) is asked to sign in as the account's
owner and can change nothing. docs/security.md, "Consent moves".
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from partnerhub.identity import org_auth
from partnerhub.identity.org_auth import OrgAccess
from partnerhub.kit.web import unit_of_work
from partnerhub.locations.service import system_principal
from partnerhub.portal.i18n import N_
from partnerhub.portal.render import gettext_for, render
from partnerhub.subscribers import service
from partnerhub.subscribers.repository import SubscriberRepository

router = APIRouter(prefix="/consent", include_in_schema=False)
REFUSALS = {
    "invalid": N_("This link is not valid (any more)."),
    "expired": N_("This link has expired. Ask for a new one."),
}


def _refused(request: Request, reason: str) -> Response:
    _ = gettext_for(request)
    return render(
        request,
        "sso/link_refused.html",
        {"reason": reason, "message": _(REFUSALS.get(reason, REFUSALS["invalid"]))},
        status=404 if reason == "invalid" else 410,
    )


async def _signed_in(request: Request) -> OrgAccess | None:
    """The customer-portal session of the visitor, when complete (second factor done)."""
    async with unit_of_work(request) as db:
        access = await org_auth.load_session(db, request.cookies.get(org_auth.ORG_COOKIE))
    if access is None or access.session.second_factor_pending:
        return None
    return access


def _page(
    request: Request,
    target: service.ConsentTarget,
    access: OrgAccess | None,
    *,
    done: bool = False,
    refused: bool = False,
    status: int = 200,
) -> Response:
    owner = access is not None and access.user.id == target.holder.id
    return render(
        request,
        "subscribers/consent.html",
        {
            "email": target.holder.email,
            "organization": target.customer.name or target.customer.external_id,
            "done": done,
            "owner": owner,
            "refused": refused,
            "signed_in_as": access.user.email if access is not None and not owner else None,
            "org_csrf": access.session.csrf_token if owner and access is not None else "",
        },
        status=status,
    )


@router.get("/{token}")
async def consent_page(token: str, request: Request) -> Response:
    access = await _signed_in(request)
    try:
        async with unit_of_work(request) as session:
            repo = SubscriberRepository(session, system_principal(_nobody()))
            target = await service.consent_target(repo, token)
    except service.ConsentRefused as exc:
        return _refused(request, exc.reason)
    return _page(request, target, access)


@router.post("/{token}")
async def consent_accept(token: str, request: Request) -> Response:
    form = await request.form()
    access = await _signed_in(request)
    email_ids: list[uuid.UUID] = []
    try:
        async with unit_of_work(request) as session:
            repo = SubscriberRepository(session, system_principal(_nobody()))
            target = await service.consent_target(repo, token)
            if access is None or access.user.id != target.holder.id:
                # Not the account's owner: nothing changes (the requesting partner included).
                return _page(request, target, access, refused=True, status=403)
            org_auth.check_csrf(access.session, form)
            done = await service.complete_move(repo, token, access.user.id)
            email_ids = await service.notify_left_organization(repo, done)
    except service.ConsentRefused as exc:
        return _refused(request, exc.reason)
    for email_id in email_ids:
        await org_auth.deliver_later(email_id)
    # The account left its organization: its customer-portal session ended with it.
    response = render(
        request,
        "subscribers/consent.html",
        {
            "email": done.user.email,
            "organization": done.customer.name or done.customer.external_id,
            "done": True,
            "owner": True,
            "refused": False,
            "signed_in_as": None,
            "org_csrf": "",
        },
    )
    org_auth.clear_cookie(response)
    return response


def _nobody() -> uuid.UUID:
    """The consent look-ups are unscoped (the token finds the request); no partner acts."""
    return uuid.UUID(int=0)
