"""SQL for administrators, sessions and tokens.

Credential look-ups happen before a principal exists (login, bearer check); they are keyed by
secrets (token hash, email) and return the owning partner, which then becomes the scope.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import ApiToken, Partner, PartnerAdmin, PortalSession


class CredentialRepository:
    """Unscoped look-ups by secret; used only to establish a principal."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def admin_by_email(self, email: str) -> PartnerAdmin | None:
        stmt = select(PartnerAdmin).where(func.lower(PartnerAdmin.email) == email.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def admin_by_id(self, admin_id: uuid.UUID) -> PartnerAdmin | None:
        return await self.session.get(PartnerAdmin, admin_id)

    async def live_token(self, token_hash: bytes, now: datetime) -> tuple[ApiToken, Partner] | None:
        """The token with this hash and its partner, if unrevoked and unexpired."""
        stmt = (
            select(ApiToken, Partner)
            .join(Partner, Partner.id == ApiToken.partner_id)
            .where(
                ApiToken.token_hash == token_hash,
                ApiToken.revoked.is_(None),
                (ApiToken.expires.is_(None)) | (ApiToken.expires > now),
            )
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row[0], row[1]) if row is not None else None

    async def touch_token(self, token_id: uuid.UUID, when: datetime) -> None:
        await self.session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used=when)
        )

    async def session_by_hash(self, token_hash: bytes) -> PortalSession | None:
        return await self.session.get(PortalSession, token_hash)

    async def delete_session(self, token_hash: bytes) -> None:
        await self.session.execute(
            delete(PortalSession).where(PortalSession.token_hash == token_hash)
        )

    async def delete_expired_sessions(self, now: datetime) -> None:
        await self.session.execute(delete(PortalSession).where(PortalSession.expires < now))

    async def count_partners(self) -> int:
        return int((await self.session.execute(select(func.count(Partner.id)))).scalar_one())

    def add(self, obj: object) -> None:
        self.session.add(obj)


class AdminRepository(Repository):
    """Administrators and tokens of the acting partner."""

    async def list_admins(self) -> list[PartnerAdmin]:
        stmt = self.scoped(select(PartnerAdmin), PartnerAdmin).order_by(PartnerAdmin.email)
        return list((await self.session.execute(stmt)).scalars())

    async def admin_by_email(self, email: str) -> PartnerAdmin | None:
        stmt = self.scoped(select(PartnerAdmin), PartnerAdmin).where(
            func.lower(PartnerAdmin.email) == email.lower()
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def admin(self, admin_id: uuid.UUID) -> PartnerAdmin | None:
        stmt = self.scoped(select(PartnerAdmin), PartnerAdmin).where(PartnerAdmin.id == admin_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_tokens(self) -> list[ApiToken]:
        stmt = self.scoped(select(ApiToken), ApiToken).order_by(ApiToken.created.desc())
        return list((await self.session.execute(stmt)).scalars())

    async def token(self, token_id: uuid.UUID) -> ApiToken | None:
        stmt = self.scoped(select(ApiToken), ApiToken).where(ApiToken.id == token_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def sub_partner(self, partner_id: uuid.UUID) -> Partner | None:
        stmt = select(Partner).where(
            Partner.id == partner_id, Partner.parent_id == self.principal.home_partner_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def add(self, obj: object) -> None:
        self.session.add(obj)
