"""SQL for administrators, sessions and tokens.

Credential look-ups happen before a principal exists (login, bearer check); they are keyed by
secrets (token hash, email) and return the owning partner, which then becomes the scope.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import ApiToken, Partner, PartnerAdmin, PortalSession

BOOTSTRAP_LOCK = 724012  # advisory lock key (724011 serializes migrations)


class CredentialRepository:
    """Unscoped look-ups by secret; used only to establish a principal."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def admin_by_email(self, email: str) -> PartnerAdmin | None:
        stmt = select(PartnerAdmin).where(func.lower(PartnerAdmin.email) == email.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def admin_by_id(self, admin_id: uuid.UUID) -> PartnerAdmin | None:
        return await self.session.get(PartnerAdmin, admin_id)

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

    async def lock_bootstrap(self) -> None:
        """Serialize first-start bootstraps of processes starting together (held until the
        transaction ends), so only one of them creates the first partner."""
        await self.session.execute(select(func.pg_advisory_xact_lock(BOOTSTRAP_LOCK)))

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


# --- the bearer check of every API request: one autocommit statement ----------------------

# Finds the live token (and its partner's suspension) and counts the request against the
# client address and, when the token is good, against the token — in one round trip. The
# counters commit at once (autocommit), so concurrent requests never wait on each other's
# counter rows for longer than the statement.
_AUTHENTICATE_AND_COUNT = """
WITH tok AS (
    SELECT t.id, t.partner_id, t.scopes, t.last_used, p.parent_id, p.provisioning_state
    FROM api_tokens t JOIN partners p ON p.id = t.partner_id
    WHERE t.token_hash = %(hash)s AND t.revoked IS NULL
      AND (t.expires IS NULL OR t.expires > %(now)s)
),
counted AS (
    INSERT INTO rate_counters (key, window_start, hits)
    SELECT k.key, %(window)s, 1
    FROM (SELECT %(address)s::varchar AS key
          UNION ALL SELECT left('token:' || tok.id::text, 200) FROM tok) AS k
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1
    RETURNING key, hits
)
SELECT tok.id, tok.partner_id, tok.scopes, tok.last_used, tok.parent_id, tok.provisioning_state,
       (SELECT hits FROM counted WHERE key = %(address)s) AS address_hits,
       (SELECT hits FROM counted WHERE key <> %(address)s) AS token_hits
FROM (SELECT 1) AS one LEFT JOIN tok ON true
"""


@dataclass(frozen=True)
class BearerCheck:
    """What :func:`authenticate_and_count` found: the token (``token_id`` None if there is
    no live token with that hash) and the counters after this request."""

    token_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    scopes: list[str]
    last_used: datetime | None
    sub_partner: bool
    provisioning_state: str | None
    address_hits: int
    token_hits: int


async def authenticate_and_count(
    conn: AsyncConnection[Any],
    token_hash: bytes | None,
    address_key: str,
    window: datetime,
    now: datetime,
) -> BearerCheck:
    params = {"hash": token_hash, "now": now, "window": window, "address": address_key[:200]}
    cur = await conn.execute(_AUTHENTICATE_AND_COUNT, params)
    row = await cur.fetchone()
    assert row is not None  # the LEFT JOIN always yields one row
    return BearerCheck(
        token_id=row[0],
        partner_id=row[1],
        scopes=list(row[2] or []),
        last_used=row[3],
        sub_partner=row[4] is not None,
        provisioning_state=row[5],
        address_hits=int(row[6] or 0),
        token_hits=int(row[7] or 0),
    )


async def touch_token_direct(
    conn: AsyncConnection[Any], token_id: uuid.UUID, when: datetime
) -> None:
    await conn.execute("UPDATE api_tokens SET last_used = %s WHERE id = %s", (when, token_id))
