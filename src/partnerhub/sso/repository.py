"""SQL for partner identity providers and single sign-on attempts.

:class:`IdpRepository` serves the partner's own API and portal (scoped to the acting partner).
:class:`SignInRepository` serves sign-in, before any principal exists: it looks rows up by
the partner named in the URL, the IdP, the attempt's key, or an e-mail domain, and never lists
anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.identity.repository import OrgIdentityRepository, admin_holding
from partnerhub.kit.repository import Repository
from partnerhub.models import (
    Customer,
    OidcProvider,
    OrgUser,
    Partner,
    PartnerAdmin,
    SamlAssertion,
    SamlIdentityProvider,
    SsoDomain,
    SsoRequest,
    SsoSpKey,
    Template,
)


class IdpRepository(Repository):
    async def saml_page(self, offset: int = 0, limit: int = 1000) -> list[SamlIdentityProvider]:
        return await self._page(SamlIdentityProvider, SamlIdentityProvider.entity_id, offset, limit)

    async def oidc_page(self, offset: int = 0, limit: int = 1000) -> list[OidcProvider]:
        return await self._page(OidcProvider, OidcProvider.name, offset, limit)

    async def _page(self, model: Any, order: Any, offset: int, limit: int) -> list[Any]:
        """The partner's providers of *model*, by *order* then id."""
        stmt = self.scoped(select(model), model).order_by(order, model.id).offset(offset)
        return list((await self.session.execute(stmt.limit(limit))).scalars())

    async def saml(self, idp_id: uuid.UUID) -> SamlIdentityProvider | None:
        stmt = self.scoped(select(SamlIdentityProvider), SamlIdentityProvider).where(
            SamlIdentityProvider.id == idp_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def oidc(self, provider_id: uuid.UUID) -> OidcProvider | None:
        stmt = self.scoped(select(OidcProvider), OidcProvider).where(OidcProvider.id == provider_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def saml_entity_taken(self, entity_id: str, exclude: uuid.UUID | None = None) -> bool:
        stmt = self.scoped(select(func.count()), SamlIdentityProvider).where(
            SamlIdentityProvider.entity_id == entity_id
        )
        if exclude is not None:
            stmt = stmt.where(SamlIdentityProvider.id != exclude)
        return bool((await self.session.execute(stmt)).scalar_one())

    async def oidc_name_taken(self, name: str, exclude: uuid.UUID | None = None) -> bool:
        stmt = self.scoped(select(func.count()), OidcProvider).where(OidcProvider.name == name)
        if exclude is not None:
            stmt = stmt.where(OidcProvider.id != exclude)
        return bool((await self.session.execute(stmt)).scalar_one())

    async def saml_entity_ids(self) -> list[str]:
        stmt = self.scoped(select(SamlIdentityProvider.entity_id), SamlIdentityProvider)
        return list((await self.session.execute(stmt)).scalars())

    async def oidc_names(self) -> list[str]:
        stmt = self.scoped(select(OidcProvider.name), OidcProvider)
        return list((await self.session.execute(stmt)).scalars())

    async def usage(self, method: str, key: str) -> tuple[int, int]:
        """How many templates and organizations of the partner sign in through this IdP."""
        column = Template.idp_entity_id if method == "partner_saml" else Template.oidc_idp_name
        templates = self.scoped(select(func.count()), Template).where(
            Template.auth_method == method, column == key
        )
        field = "idpEntityId" if method == "partner_saml" else "oidcIdpName"
        auth = Customer.settings["authentication"]
        customers = self.scoped(select(func.count()), Customer).where(
            auth["method"].astext == method, auth[field].astext == key
        )
        return (
            int((await self.session.execute(templates)).scalar_one()),
            int((await self.session.execute(customers)).scalar_one()),
        )

    async def sp_key(self) -> SsoSpKey | None:
        return await self.session.get(SsoSpKey, self.principal.partner_id)

    async def domain_claims(self, domains: list[str]) -> list[SsoDomain]:
        """The claims on these domains by any IdP of any partner. Deliberately global: a
        domain is claimed once across tenants; the service tells the caller only that it is
        taken, never by whom."""
        if not domains:
            return []
        stmt = select(SsoDomain).where(SsoDomain.domain.in_(domains))
        return list((await self.session.execute(stmt)).scalars())

    def add(self, obj: object) -> None:
        self.session.add(obj)

    async def delete(self, obj: object) -> None:
        await self.session.delete(obj)

    async def flush(self) -> None:
        await self.session.flush()


@dataclass(frozen=True)
class DomainRoute:
    """Where ``/signin`` sends the addresses of a claimed domain."""

    kind: str  # saml | oidc
    partner_id: uuid.UUID
    idp_id: uuid.UUID
    name: str


class SignInRepository:
    """Unscoped look-ups used to sign somebody in (keyed by the URL's partner or a secret)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def partner(self, partner_id: uuid.UUID) -> Partner | None:
        return await self.session.get(Partner, partner_id)

    async def sp_key(self, partner_id: uuid.UUID) -> SsoSpKey | None:
        return await self.session.get(SsoSpKey, partner_id)

    async def add_sp_key(self, key: SsoSpKey) -> SsoSpKey:
        """Store a new key pair unless another process stored one first; returns the kept one."""
        stmt = insert(SsoSpKey).values(
            partner_id=key.partner_id,
            certificate_pem=key.certificate_pem,
            private_key_encrypted=key.private_key_encrypted,
            created=key.created,
        )
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["partner_id"]))
        kept = await self.session.execute(
            select(SsoSpKey)
            .where(SsoSpKey.partner_id == key.partner_id)
            .execution_options(populate_existing=True)
        )
        return kept.scalar_one()

    async def saml(self, partner_id: uuid.UUID, idp_id: uuid.UUID) -> SamlIdentityProvider | None:
        stmt = select(SamlIdentityProvider).where(
            SamlIdentityProvider.partner_id == partner_id, SamlIdentityProvider.id == idp_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def oidc(self, partner_id: uuid.UUID, provider_id: uuid.UUID) -> OidcProvider | None:
        stmt = select(OidcProvider).where(
            OidcProvider.partner_id == partner_id, OidcProvider.id == provider_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def domain_route(self, domain: str) -> DomainRoute | None:
        """The IdP that claims ``domain`` (public configuration: one statement, a few columns,
        whoever the address belongs to)."""
        stmt = (
            select(
                SsoDomain.partner_id,
                SsoDomain.saml_idp_id,
                SamlIdentityProvider.display_name,
                SamlIdentityProvider.entity_id,
                SsoDomain.oidc_provider_id,
                OidcProvider.name,
            )
            .outerjoin(SamlIdentityProvider, SamlIdentityProvider.id == SsoDomain.saml_idp_id)
            .outerjoin(OidcProvider, OidcProvider.id == SsoDomain.oidc_provider_id)
            .where(SsoDomain.domain == domain)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        partner_id, saml_id, display_name, entity_id, oidc_id, oidc_name = row
        if saml_id is not None:
            return DomainRoute("saml", partner_id, saml_id, display_name or entity_id)
        return DomainRoute("oidc", partner_id, oidc_id, oidc_name) if oidc_id else None

    def add(self, obj: object) -> None:
        self.session.add(obj)

    async def flush(self) -> None:
        await self.session.flush()

    async def take_request(
        self, kind: str, key: str, partner_id: uuid.UUID, now: datetime
    ) -> SsoRequest | None:
        """Mark the attempt used and return it; None if unknown, used, expired or another kind."""
        stmt = (
            update(SsoRequest)
            .where(
                SsoRequest.request_key == key,
                SsoRequest.kind == kind,
                SsoRequest.partner_id == partner_id,
                SsoRequest.consumed.is_(None),
                SsoRequest.expires > now,
            )
            .values(consumed=now)
            .returning(SsoRequest)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def request_by_key(self, kind: str, key: str) -> SsoRequest | None:
        """The attempt with this key and kind, whatever its state (to explain a refusal)."""
        stmt = select(SsoRequest).where(SsoRequest.request_key == key, SsoRequest.kind == kind)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def consume_assertion(
        self, idp_id: uuid.UUID, assertion_id: str, expires: datetime
    ) -> bool:
        """Record an accepted assertion; False when it was accepted before (a replay)."""
        stmt = (
            insert(SamlAssertion)
            .values(saml_idp_id=idp_id, assertion_id=assertion_id[:256], expires=expires)
            .on_conflict_do_nothing()
            .returning(SamlAssertion.assertion_id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def admin_by_email(self, email: str) -> PartnerAdmin | None:
        """The partner administrator of ``email``, only if the address belongs to partner
        administrators (one identity per address: another tenant's record never reroutes)."""
        return (await self.session.execute(admin_holding(email))).scalar_one_or_none()

    async def org_user_by_email(self, email: str) -> tuple[OrgUser, Customer] | None:
        """The settled organization user of ``email`` (identity's query)."""
        return await OrgIdentityRepository(self.session).org_user_by_email(email)

    async def purge(self, now: datetime) -> None:
        await self.session.execute(delete(SsoRequest).where(SsoRequest.expires < now))
        await self.session.execute(delete(SamlAssertion).where(SamlAssertion.expires < now))
