"""SQL for partners. Sub-partners are the partners whose ``parent_id`` is the acting partner.

A few parts are deliberately global (not scoped), and say so: :func:`email_in_use` (whether an
email already belongs to any identity: a partner administrator or a customer organization's user;
it only answers yes/no), :class:`OperatorRepository` (the operator's command line, which acts for
the installation, not for a partner) and :class:`AdminLinkRepository` (a partner administrator's
single-use links, reached by a signed link id or by an administrator already resolved).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.identity.repository import retire_links, take_link
from partnerhub.kit.repository import Repository
from partnerhub.models import OrgUser, Partner, PartnerAdmin, PartnerAdminLink, Template


class PartnerRepository(Repository):
    async def sub_partner(self, partner_id: uuid.UUID, lock: bool = False) -> Partner | None:
        """A direct sub-partner of the acting partner (None for anyone else); ``lock`` takes
        its row ``FOR UPDATE`` (a change of its state or administrators)."""
        stmt = select(Partner).where(
            Partner.id == partner_id, Partner.parent_id == self.principal.partner_id
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def sub_partners(
        self, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[Partner]:
        stmt = select(Partner).where(Partner.parent_id == self.principal.partner_id)
        if state is not None:
            stmt = stmt.where(Partner.provisioning_state == state)
        stmt = stmt.order_by(Partner.created, Partner.id).offset(offset).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def sub_partner_admins(self, sub_partner_id: uuid.UUID) -> list[PartnerAdmin]:
        """The administrators of a direct sub-partner of the acting partner."""
        stmt = (
            select(PartnerAdmin)
            .join(Partner, Partner.id == PartnerAdmin.partner_id)
            .where(
                PartnerAdmin.partner_id == sub_partner_id,
                Partner.parent_id == self.principal.partner_id,
            )
            .order_by(PartnerAdmin.created, PartnerAdmin.email)
        )
        return list((await self.session.execute(stmt)).scalars())

    def add(self, obj: object) -> None:
        self.session.add(obj)

    # --- partner settings (PSTN providers, offers) ---------------------------------------

    async def current(self) -> Partner | None:
        return await self.session.get(Partner, self.principal.partner_id)

    async def templates_using_provider(self, provider: str) -> int:
        stmt = self.scoped(select(func.count(Template.id)), Template).where(
            Template.pstn_provider == provider
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def templates_with_platform_calling(self) -> int:
        stmt = self.scoped(select(func.count(Template.id)), Template).where(
            Template.allow_platform_calling.is_(True)
        )
        return int((await self.session.execute(stmt)).scalar_one())


IDENTITY_EMAIL_LOCK = 724013  # advisory lock class (724011 migrations, 724012 first start)


# Global: one identity per email address, whichever tenant holds it (yes/no only).
async def email_in_use(session: AsyncSession, email: str) -> bool:
    """Whether ``email`` (any case) is already a partner administrator's or a customer
    organization user's address. Takes a transaction-long advisory lock on the address first,
    so that concurrent creations with one address are serialized (the second sees the first's
    row once it commits)."""
    lowered = email.lower()
    await session.execute(
        select(func.pg_advisory_xact_lock(IDENTITY_EMAIL_LOCK, func.hashtext(lowered)))
    )
    stmt = select(
        exists().where(func.lower(PartnerAdmin.email) == lowered)
        | exists().where(func.lower(OrgUser.email) == lowered)
    )
    return bool((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class PartnerRow:
    """What ``partnerhub partner list`` shows of a partner."""

    partner: Partner
    admins: int


class OperatorRepository:
    """Global: the operator's command line creates and lists partners of the installation;
    the portal reads whether a partner is suspended (``partners.service.suspended_sub_partner``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def partner(self, partner_id: uuid.UUID) -> Partner | None:
        return await self.session.get(Partner, partner_id)

    async def partners(self) -> list[PartnerRow]:
        admins = (
            select(func.count(PartnerAdmin.id))
            .where(PartnerAdmin.partner_id == Partner.id, PartnerAdmin.active.is_(True))
            .scalar_subquery()
        )
        stmt = select(Partner, admins).order_by(Partner.created, Partner.id)
        return [PartnerRow(p, int(n)) for p, n in (await self.session.execute(stmt)).all()]

    def add(self, obj: object) -> None:
        self.session.add(obj)

    async def flush(self) -> None:
        await self.session.flush()


class AdminLinkRepository:
    """Global: a partner administrator's single-use links, reached by the id a signed link
    names, or by an administrator the caller already resolved."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def link(self, link_id: uuid.UUID) -> PartnerAdminLink | None:
        return await self.session.get(PartnerAdminLink, link_id)

    async def admin(self, admin_id: uuid.UUID, lock: bool = False) -> PartnerAdmin | None:
        stmt = select(PartnerAdmin).where(PartnerAdmin.id == admin_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def take_link(self, link_id: uuid.UUID, now: datetime) -> bool:
        """Mark the link used; False when it was used (or expired) already."""
        return await take_link(self.session, PartnerAdminLink, link_id, now)

    async def retire_links(self, admin_id: uuid.UUID, now: datetime) -> None:
        """Mark every outstanding link of the administrator used."""
        await retire_links(self.session, PartnerAdminLink.admin_id, admin_id, now)

    def add(self, obj: object) -> None:
        self.session.add(obj)

    async def flush(self) -> None:
        await self.session.flush()
