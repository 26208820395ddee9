"""Consent to a user move (``pending_user_migration``).

The move writes into another tenant, so only the user decides it (docs/security.md, "Consent
moves"): ``consentMove`` emails the user alone a link (the requesting partner's outbox shows it
hidden); the link expires after ``PARTNERHUB_INVITATION_HOURS``, a fresh one replaces the
previous, and it is accepted only by the user signed in to their current organization's account
(:func:`complete_move` takes that user). Accepting removes the user from the other organization
and the subscriber becomes ``provisioned``; the losing organization gets an entry in its history
and an email to its administrators.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from partnerhub.errors import Forbidden, InvalidValue
from partnerhub.models import Customer, CustomerEvent, OrgUser
from partnerhub.models.base import utcnow
from partnerhub.subscribers.repository import PENDING, SubscriberRepository
from partnerhub.subscribers.rules import PROVISIONED, WRITE, EmailTaken, flush_or_refuse, get


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class ConsentMail:
    user: OrgUser
    customer: Customer
    token: str


async def start_consent(repo: SubscriberRepository, user_id: uuid.UUID | None) -> ConsentMail:
    """``consentMove``: a fresh consent link for a ``pending_user_migration`` subscriber
    (any earlier link stops working)."""
    repo.principal.require(WRITE)
    user = await get(repo, user_id)
    if user.status != PENDING:
        raise InvalidValue(
            f"the subscriber is {user.status or PROVISIONED}; the consent email is only for "
            "pending_user_migration subscribers"
        )
    customer = await repo.customer(user.customer_id)
    assert customer is not None
    token = secrets.token_urlsafe(32)
    user.consent_token_hash = _hash(token)
    user.consent_sent = utcnow()
    await flush_or_refuse(repo)
    return ConsentMail(user, customer, token)


class ConsentRefused(Exception):
    """A consent link that cannot be used: ``invalid`` (unknown, replaced, already used, or no
    account to move any more) or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def consent_lifetime() -> timedelta:
    from partnerhub import runtime

    return timedelta(hours=runtime.settings().invitation_hours)


@dataclass(frozen=True)
class ConsentTarget:
    """A usable consent link: the pending subscriber, its (new) organization, and the account
    that would move (the user of the other organization)."""

    user: OrgUser
    customer: Customer
    holder: OrgUser


async def consent_target(repo: SubscriberRepository, token: str) -> ConsentTarget:
    user = await repo.by_consent_hash(_hash(token)) if token and len(token) <= 200 else None
    customer = await repo.session.get(Customer, user.customer_id) if user else None
    if user is None or customer is None:
        raise ConsentRefused("invalid")
    if user.consent_sent is None or user.consent_sent + consent_lifetime() <= utcnow():
        raise ConsentRefused("expired")
    holder = await repo.other_holder(user)
    if holder is None:
        raise ConsentRefused("invalid")
    return ConsentTarget(user, customer, holder)


@dataclass(frozen=True)
class MoveDone:
    user: OrgUser
    customer: Customer
    # The losing organization (its administrators are told) and the user who left it.
    left: Customer | None
    holder_email: str
    holder_id: uuid.UUID


async def complete_move(
    repo: SubscriberRepository, token: str, signed_in_user_id: uuid.UUID
) -> MoveDone:
    """The user consented: leave the other organization, become ``provisioned`` here.

    ``signed_in_user_id`` is the customer-portal user whose session accepted: only the account
    that moves may accept (anyone else, the requesting partner included, is refused).
    """
    target = await consent_target(repo, token)
    user, holder = target.user, target.holder
    if holder.id != signed_in_user_id:
        raise Forbidden("Only the owner of the account, signed in, can accept this move")
    if holder.roles:
        raise EmailTaken(
            "the account administers its current organization and cannot move",
            field="email",
        )
    left = await repo.session.get(Customer, holder.customer_id)
    await repo.delete_user(holder.id)
    await flush_or_refuse(repo)
    now = utcnow()
    user.status = PROVISIONED
    user.last_status_change = now
    user.consent_token_hash = None
    if left is not None:
        # The losing organization's history (unscoped write: the user's own decision).
        repo.add_event(
            CustomerEvent(
                id=uuid.uuid4(),
                partner_id=left.partner_id,
                customer_id=left.id,
                kind="audit",
                status=None,
                detail={
                    "action": "user_moved_away",
                    "actorType": "user",
                    "actorId": str(holder.id),
                    "actorEmail": holder.email,
                    "userEmail": holder.email,
                },
                created=now,
            )
        )
    await flush_or_refuse(repo)
    return MoveDone(user, target.customer, left, holder.email, holder.id)


async def notify_left_organization(repo: SubscriberRepository, done: MoveDone) -> list[uuid.UUID]:
    """Email the losing organization's administrators that the user left (ids of the emails;
    hand them to the delivery job after the commit)."""
    from partnerhub.locations.service import system_principal
    from partnerhub.notifications import service as notifications

    left = done.left
    if left is None:
        return []
    theirs = SubscriberRepository(repo.session, system_principal(left.partner_id))
    admins = await theirs.administrators(left.id, 0, 100)
    brand = str(((left.settings or {}).get("email") or {}).get("brandName") or "PartnerHub")
    kind = "user_moved_away"
    language = notifications.pick_language(
        kind, left.language, (left.settings or {}).get("defaultEmailLanguage")
    )
    out = []
    for admin in admins:
        email_id = await notifications.queue(
            repo.session,
            partner_id=left.partner_id,
            customer_id=left.id,
            dedupe_key=f"org-user:{done.holder_id}:moved-away:{admin.id}",
            kind=kind,
            to=admin.email,
            language=language,
            context={
                "brand_name": brand,
                "customer_name": left.name or left.external_id,
                "user_email": done.holder_email,
                "when": f"{utcnow():%Y-%m-%d %H:%M}",
            },
            from_name=brand,
        )
        if email_id is not None:
            out.append(email_id)
    return out
