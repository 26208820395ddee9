"""SQL for administrators, sessions and tokens, and for customer-organization users' own
sign-in (sessions, credentials, single-use links), and the server key.

Credential look-ups happen before a principal exists (login, bearer check); they are keyed by
secrets (token hash, email) and return the owning partner, which then becomes the scope.
Four parts are deliberately global (not scoped): :class:`CredentialRepository`,
:class:`OrgIdentityRepository` (its tables have no partner column; rows are reached by a secret
or by a user the caller already resolved), :class:`IdentityEmailRepository` (which kind of
account holds an email address, across all tenants: it answers only that) and
:func:`stored_server_secret` (one row for the whole installation).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import Select, and_, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.repository import Repository
from partnerhub.models import (
    ApiToken,
    Customer,
    IdentityEmail,
    IdentityLink,
    OrgCredential,
    OrgSession,
    OrgUser,
    Partner,
    PartnerAdmin,
    PortalSession,
    ServerKey,
)
from partnerhub.models.identity_email import ORG_USER, PARTNER_ADMIN

BOOTSTRAP_LOCK = 724012  # advisory lock key (724011 serializes migrations)


def admin_holding(email: str) -> Select[PartnerAdmin]:
    """The partner administrator whose address ``email`` is, when the address belongs to
    partner administrators (``identity_emails``): a record made before the one-identity rule
    by another tenant can never take a user's sign-in over."""
    return (
        select(PartnerAdmin)
        .join(IdentityEmail, IdentityEmail.email == func.lower(PartnerAdmin.email))
        .where(
            func.lower(PartnerAdmin.email) == email.lower(),
            IdentityEmail.kind == PARTNER_ADMIN,
        )
    )


class IdentityEmailRepository:
    """Global (not scoped): which kind of account holds an address, in every tenant. Used
    by the one-identity rule (identity.service.refuse_other_identity) before a creation;
    it answers only a kind, never whose."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def kinds(self, emails: Iterable[str]) -> dict[str, str]:
        """``{lower-cased address: kind}`` of the held addresses among ``emails``."""
        wanted = sorted({e.lower() for e in emails})
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            stmt = select(IdentityEmail.email, IdentityEmail.kind).where(
                IdentityEmail.email.in_(chunk)
            )
            out.update({row.email: row.kind for row in await self.session.execute(stmt)})
        return out

    async def kind(self, email: str) -> str | None:
        return (await self.kinds([email])).get(email.lower())

    async def partner_admin_emails(self, emails: list[str]) -> set[str]:
        """The addresses among ``emails`` (lower-cased, no line breaks: a bulk import's) that
        belong to partner administrators, in one query."""
        if not emails:
            return set()
        rows = await self.session.execute(_ADMIN_EMAILS, {"emails": "\n".join(emails)})
        return {row[0] for row in rows}

    async def other_family_domains(self, domains: Iterable[str], partner_id: uuid.UUID) -> set[str]:
        """The domains among ``domains`` (normalized: ``kit.validators.email_domain``) that an
        identity provider of a partner outside ``partner_id``'s family claims, in one query
        (:func:`other_family_claim`); an empty set without asking when there are none."""
        wanted = sorted(set(domains))
        if not wanted:
            return set()
        rows = await self.session.execute(
            _OTHER_FAMILY_DOMAINS, {"domains": "\n".join(wanted), "partner": partner_id}
        )
        return {row[0] for row in rows}


def other_family_claim(domain: str, partner: str) -> str:
    """SQL: whether the e-mail domain ``domain`` (a placeholder or expression of the
    statement, the domain in its claimed form) is claimed by an identity provider of a partner
    outside the family of ``partner`` (the partner who would hold the new person). The test
    of migration 0011's trigger, read with a creation's other facts so that a request is
    refused before anything is written (the trigger still decides a race). Global, like
    :class:`IdentityEmailRepository`: it answers only yes or no, never whose claim."""
    return (
        f"EXISTS (SELECT 1 FROM sso_domains s WHERE s.domain = {domain} "  # noqa: S608
        f"AND {partner} <> ALL(partner_family(s.partner_id)))"
    )


_ADMIN_EMAILS = text(
    "SELECT email FROM identity_emails WHERE kind = 'partner_admin' "
    "AND email = ANY(string_to_array(:emails, E'\\n'))"
)

_OTHER_FAMILY_DOMAINS = text(
    "SELECT d.domain FROM unnest(string_to_array(:domains, E'\\n')) AS d(domain) WHERE "  # noqa: S608
    + other_family_claim("d.domain", "CAST(:partner AS uuid)")
)


@dataclass(frozen=True)
class Holder:
    """Whose account an address is (:meth:`CredentialRepository.holder`): an administrator, a
    customer user (with their customer), or nobody (every field ``None``)."""

    admin: PartnerAdmin | None = None
    user: OrgUser | None = None
    customer: Customer | None = None


class CredentialRepository:
    """Unscoped look-ups by secret; used only to establish a principal."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def admin_by_email(self, email: str) -> PartnerAdmin | None:
        return (await self.session.execute(admin_holding(email))).scalar_one_or_none()

    async def holder(self, email: str) -> Holder:
        """Whose account ``email`` is (the one kind ``identity_emails`` records), in one
        statement whoever holds it, or nobody: a partner administrator, or a settled
        organization user with their customer. For the audit rows of the sign-in throttle's
        refusals and of reset requests (identity.org_auth.record_throttled)."""
        stmt = (
            select(PartnerAdmin, OrgUser, Customer)
            .select_from(IdentityEmail)
            .outerjoin(
                PartnerAdmin,
                and_(
                    IdentityEmail.kind == PARTNER_ADMIN,
                    func.lower(PartnerAdmin.email) == IdentityEmail.email,
                ),
            )
            .outerjoin(
                OrgUser,
                and_(
                    IdentityEmail.kind == ORG_USER,
                    func.lower(OrgUser.email) == IdentityEmail.email,
                    OrgUser.status.is_distinct_from("pending_user_migration"),
                ),
            )
            .outerjoin(Customer, Customer.id == OrgUser.customer_id)
            .where(IdentityEmail.email == (email or "").strip().lower())
            .limit(1)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return Holder()
        return Holder(row[0], row[1] if row[2] is not None else None, row[2])

    async def end_admin_sessions(self, admin_id: uuid.UUID, keep: bytes | None = None) -> None:
        """Delete every portal session of the administrator but ``keep`` (a token hash)."""
        stmt = delete(PortalSession).where(PortalSession.admin_id == admin_id)
        if keep is not None:
            stmt = stmt.where(PortalSession.token_hash != keep)
        await self.session.execute(stmt)

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


class OrgIdentityRepository:
    """Unscoped (global): customer-portal sessions, credentials and single-use links, reached
    by a secret (cookie hash, signed link id) or by an org user the caller already resolved."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def org_user_by_email(self, email: str) -> tuple[OrgUser, Customer] | None:
        """The settled organization user of ``email``, only if the address belongs to
        organization users (``identity_emails``)."""
        stmt = (
            select(OrgUser, Customer)
            .join(Customer, Customer.id == OrgUser.customer_id)
            .join(IdentityEmail, IdentityEmail.email == func.lower(OrgUser.email))
            .where(
                func.lower(OrgUser.email) == email.lower(),
                OrgUser.status.is_distinct_from("pending_user_migration"),
                IdentityEmail.kind == ORG_USER,
            )
        )
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row else None

    async def session_by_hash(self, token_hash: bytes) -> OrgSession | None:
        return await self.session.get(OrgSession, token_hash)

    async def user_and_customer(self, org_user_id: uuid.UUID) -> tuple[OrgUser, Customer] | None:
        row = (
            await self.session.execute(
                select(OrgUser, Customer)
                .join(Customer, Customer.id == OrgUser.customer_id)
                .where(OrgUser.id == org_user_id)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def delete_session(self, token_hash: bytes) -> None:
        await self.session.execute(delete(OrgSession).where(OrgSession.token_hash == token_hash))

    async def end_user_sessions(self, org_user_id: uuid.UUID, keep: bytes | None = None) -> None:
        """Delete every customer-portal session of the user but ``keep`` (a token hash)."""
        stmt = delete(OrgSession).where(OrgSession.org_user_id == org_user_id)
        if keep is not None:
            stmt = stmt.where(OrgSession.token_hash != keep)
        await self.session.execute(stmt)

    async def credential(self, org_user_id: uuid.UUID, lock: bool = True) -> OrgCredential | None:
        """The user's credential row, locked (``FOR UPDATE``) unless ``lock`` is False."""
        stmt = select(OrgCredential).where(OrgCredential.org_user_id == org_user_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def link(self, link_id: uuid.UUID) -> IdentityLink | None:
        return await self.session.get(IdentityLink, link_id)

    async def org_user(self, org_user_id: uuid.UUID) -> OrgUser | None:
        return await self.session.get(OrgUser, org_user_id)

    async def take_link(self, link_id: uuid.UUID, now: datetime) -> bool:
        """Mark the link used; False when it was used (or expired) already."""
        return await take_link(self.session, IdentityLink, link_id, now)

    async def retire_links(self, org_user_id: uuid.UUID, now: datetime) -> None:
        """Mark every outstanding link of the user used."""
        await retire_links(self.session, IdentityLink.org_user_id, org_user_id, now)

    async def purge(self, sessions_before: datetime, links_before: datetime) -> None:
        """Delete sessions expired before ``sessions_before`` and links expired before
        ``links_before``."""
        await self.session.execute(delete(OrgSession).where(OrgSession.expires < sessions_before))
        await self.session.execute(delete(IdentityLink).where(IdentityLink.expires < links_before))

    def add(self, obj: object) -> None:
        self.session.add(obj)

    async def flush(self) -> None:
        await self.session.flush()


# Global (not scoped): the server key row belongs to the whole installation, not to a partner.
async def stored_server_secret(session: AsyncSession, name: str, candidate: bytes) -> bytes:
    """The stored secret ``name``; ``candidate`` is stored first when there is none yet."""
    # One round trip: the row made now, or the one a first caller made.
    made = (
        insert(ServerKey)
        .values(name=name, secret=candidate)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(ServerKey.secret)
        .cte("made")
    )
    stored = select(ServerKey.secret).where(ServerKey.name == name)
    found = (
        await session.execute(select(made.c.secret).union_all(stored).limit(1))
    ).scalar_one_or_none()
    if found is None:  # a concurrent first caller committed after this statement's snapshot
        found = (await session.execute(stored)).scalar_one()
    return bytes(found)


# --- the bearer check of every API request: one autocommit statement ----------------------

# Finds the live token (and its partner's suspension) and counts the request against the
# client address and, when the token is good, against the token — in one round trip. The
# counters commit at once (autocommit), so concurrent requests never wait on each other's
# counter rows for longer than the statement.
_AUTHENTICATE_AND_COUNT = """
WITH tok AS (
    SELECT t.id, t.partner_id, t.scopes, t.last_used, p.parent_id, p.provisioning_state,
           t.created_by IS NOT NULL AS has_creator, a.role, coalesce(a.active, false) AS active
    FROM api_tokens t JOIN partners p ON p.id = t.partner_id
    LEFT JOIN partner_admins a ON a.id = t.created_by
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
       (SELECT hits FROM counted WHERE key <> %(address)s) AS token_hits,
       tok.has_creator, tok.role, tok.active
FROM (SELECT 1) AS one LEFT JOIN tok ON true
"""


@dataclass(frozen=True)
class BearerCheck:
    """What :func:`authenticate_and_count` found: the token (``token_id`` None if there is
    no live token with that hash), the current role and active flag of the administrator who
    made it (``has_creator`` False: made by the operator) and the counters after this
    request."""

    token_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    scopes: list[str]
    last_used: datetime | None
    sub_partner: bool
    provisioning_state: str | None
    address_hits: int
    token_hits: int
    has_creator: bool = False
    creator_role: str | None = None
    creator_active: bool = False


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
        has_creator=bool(row[8]),
        creator_role=row[9],
        creator_active=bool(row[10]),
    )


async def touch_token_direct(
    conn: AsyncConnection[Any], token_id: uuid.UUID, when: datetime
) -> None:
    await conn.execute("UPDATE api_tokens SET last_used = %s WHERE id = %s", (when, token_id))


# Single-use links (``identity_links``, ``partner_admin_links``): one statement each way.


async def take_link(session: AsyncSession, model: Any, link_id: uuid.UUID, now: datetime) -> bool:
    """Mark the link of *model* used; False when it was used (or expired) already."""
    taken = await session.execute(
        update(model)
        .where(model.id == link_id, model.used.is_(None), model.expires > now)
        .values(used=now)
        .returning(model.id)
    )
    return taken.scalar_one_or_none() is not None


async def retire_links(
    session: AsyncSession, holder: Any, holder_id: uuid.UUID, now: datetime
) -> None:
    """Mark every outstanding link of the holder (*holder*: the table's holder column) used."""
    model = holder.class_
    await session.execute(
        update(model).where(holder == holder_id, model.used.is_(None)).values(used=now)
    )
