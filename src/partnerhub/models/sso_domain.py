"""E-mail domains claimed by a partner's identity provider, so that sign-in
reveals nothing about which addresses have an account.

``/signin`` routes every address of a claimed domain to the IdP that claims it, whether the
address has an account or not, so the answer depends on the domain alone. A domain (its
lower-case ASCII form, IDNA) is claimed by one IdP of one partner at most: the primary key
makes a second claim fail, even by a concurrent request, so one tenant can never change
another's sign-in routing. Exactly one of ``saml_idp_id`` / ``oidc_provider_id`` is set; the
claim goes with its IdP. ``address_domain`` is the same domain as the stored addresses spell
it (email-validator's form: Unicode for an internationalized domain), so that the database's
domain-family rule (migrations 0011, 0019) sees ``bücher.example`` and
``xn--bcher-kva.example`` as one domain.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, utcnow


class OfIdentityProvider:
    """The columns of a row that belongs to one identity provider of a partner: the partner
    and exactly one of the SAML IdP or the OIDC provider (the row goes with them)."""

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    saml_idp_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("saml_identity_providers.id", ondelete="CASCADE"), index=True
    )
    oidc_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oidc_providers.id", ondelete="CASCADE"), index=True
    )


class SsoDomain(OfIdentityProvider, Base):
    __tablename__ = "sso_domains"
    __table_args__ = (
        CheckConstraint(
            "(saml_idp_id IS NULL) <> (oidc_provider_id IS NULL)", name="one_identity_provider"
        ),
    )

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    # The domain as stored addresses spell it (``kit.validators.address_domain``: Unicode for
    # an internationalized domain); migration 0019's triggers compare addresses with both.
    address_domain: Mapped[str] = mapped_column(String(253), index=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)
