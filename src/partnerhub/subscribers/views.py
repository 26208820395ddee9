"""The public page where a user consents to moving into a customer organization.

``consentMove`` emails the user a link ``/consent/<token>``; the token is the credential
(256-bit random, stored hashed, replaced by every new ``consentMove``). The page asks for
confirmation (a CSRF-protected form); accepting completes the move
(:func:`partnerhub.subscribers.service.complete_move`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from partnerhub.kit.web import unit_of_work
from partnerhub.locations.service import system_principal
from partnerhub.portal import session as portal
from partnerhub.portal.render import render
from partnerhub.subscribers import service
from partnerhub.subscribers.repository import SubscriberRepository

router = APIRouter(prefix="/consent", include_in_schema=False)


@router.get("/{token}")
async def consent_page(token: str, request: Request) -> Response:
    await portal.load(request, create=True)
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, system_principal(_nobody()))
        user, customer = await service.consent_target(repo, token)
    return render(
        request,
        "subscribers/consent.html",
        {"email": user.email, "organization": customer.name or customer.external_id, "done": False},
    )


@router.post("/{token}")
async def consent_accept(token: str, request: Request) -> Response:
    ctx = await portal.load(request)
    await portal.form_of(request, ctx)
    async with unit_of_work(request) as session:
        repo = SubscriberRepository(session, system_principal(_nobody()))
        _, customer = await service.consent_target(repo, token)
        user = await service.complete_move(repo, token)
    return render(
        request,
        "subscribers/consent.html",
        {"email": user.email, "organization": customer.name or customer.external_id, "done": True},
    )


def _nobody() -> uuid.UUID:
    """The consent look-ups are unscoped (the token is the credential); no partner acts."""
    return uuid.UUID(int=0)
