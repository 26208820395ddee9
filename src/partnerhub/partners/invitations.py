"""The invitation of a new partner administrator: a single-use, expiring link to set a first
password, e-mailed to the administrator only.

A parent partner that adds an administrator to its sub-partner (hub API or portal) never sees a
secret of theirs: the administrator is created without a password and receives this link (the
same design as the customer users' invitations in :mod:`partnerhub.identity.org_auth`: a token
signed with the server secret names a ``partner_admin_links`` row and its expiry; the row records
the use, so a second use is refused; setting the password retires every other link).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import runtime
from partnerhub.identity.org_auth import (
    LinkRefused,
    check_password_strength,
    consume_link,
    read_link_token,
    sign_link_token,
    usable_link,
    write_link,
)
from partnerhub.identity.service import log_admin_sign_in
from partnerhub.models import Partner, PartnerAdmin, PartnerAdminLink
from partnerhub.partners.repository import AdminLinkRepository

LINK_PURPOSE = "partner-admin-link"  # the signing key's purpose (not the customer users' one)
INVITATION = "invitation"
LINK_PATH = "/account/admin-password"
EMAIL_KIND = "partner_admin_invitation"

__all__ = ["LinkRefused", "issue", "peek", "record_refused", "send_invitation", "use"]


async def issue(
    db: AsyncSession, admin_id: uuid.UUID, lifetime: timedelta | None = None
) -> tuple[PartnerAdminLink, str]:
    """A new single-use invitation link: the row and the absolute URL to send."""
    settings = runtime.settings()
    lifetime = lifetime or timedelta(hours=settings.invitation_hours)
    repo = AdminLinkRepository(db)
    link: PartnerAdminLink = await write_link(
        repo, PartnerAdminLink, INVITATION, lifetime, admin_id=admin_id
    )
    token = await sign_link_token(db, INVITATION, link.id, link.expires, LINK_PURPOSE)
    return link, f"{settings.base_url()}{LINK_PATH}/{token}"


async def peek(db: AsyncSession, token: str) -> tuple[PartnerAdminLink, PartnerAdmin]:
    """The link and its administrator, if the link can still be used (nothing consumed)."""
    link_id = await read_link_token(db, token, INVITATION, LINK_PURPOSE)
    repo = AdminLinkRepository(db)
    link: PartnerAdminLink = usable_link(await repo.link(link_id), INVITATION)
    admin = await repo.admin(link.admin_id)
    if admin is None:
        raise LinkRefused("invalid")
    if not admin.active:  # a deactivated administrator's genuine link: recorded
        raise LinkRefused("invalid", link.id)
    return link, admin


async def use(db: AsyncSession, token: str, password: str) -> PartnerAdmin:
    """Set the administrator's password through the link, once."""
    from partnerhub.identity.service import hash_password

    link, admin = await peek(db, token)
    check_password_strength(password, admin.email)
    repo = AdminLinkRepository(db)
    await consume_link(repo, link.id, admin.id)
    locked = await repo.admin(admin.id, lock=True)
    assert locked is not None
    locked.password_hash = hash_password(password)
    await repo.flush()
    detail = {"link": INVITATION}
    log_admin_sign_in(db, locked, "account.password_link", detail, by_them=True)
    return locked


async def record_refused(db: AsyncSession, refused: LinkRefused) -> None:
    """A refused use (a submitted form) of a genuine invitation link (expired or used), in the
    administrator's partner's log; an altered or unknown token leaves no row."""
    if refused.link_id is None:
        return
    repo = AdminLinkRepository(db)
    link = await repo.link(refused.link_id)
    admin = await repo.admin(link.admin_id) if link is not None else None
    if admin is not None:
        detail = {"link": INVITATION, "reason": refused.reason}
        log_admin_sign_in(db, admin, "signin.link_refused", detail, by_them=False)


async def send_invitation(
    db: AsyncSession,
    admin: PartnerAdmin,
    partner: Partner,
    invited_by: str,
    language: str | None = None,
) -> uuid.UUID | None:
    """Queue the invitation e-mail to the administrator's own address (its outbox row belongs
    to the administrator's partner, not to the inviting parent): in the language the
    administrator chose, else *language* (the inviting administrator's, from the portal), else
    English."""
    from partnerhub.notifications import service as notifications

    link, url = await issue(db, admin.id)
    chosen = notifications.pick_language(EMAIL_KIND, admin.language, language)
    return await notifications.queue(
        db,
        partner_id=partner.id,
        customer_id=None,
        dedupe_key=f"partner-admin-link:{link.id}",
        kind=EMAIL_KIND,
        to=admin.email,
        language=chosen,
        context={
            "partner_name": partner.name,
            "admin_email": admin.email,
            "invited_by": invited_by,
            "set_password_url": url,
            "hours": runtime.settings().invitation_hours,
        },
    )
