"""A partner's SAML identity providers: templates refer to them by entity ID.

The metadata XML is kept as given (uploaded or fetched from ``metadata_url``); the entity ID,
the single sign-on endpoint, the signing certificates and ``WantAuthnRequestsSigned`` are
extracted from it when it is registered, so that lists and checks need no XML parsing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnerhub.models.base import Base, IdMixin, TimestampMixin
from partnerhub.models.sso_domain import SsoDomain


class SamlIdentityProvider(IdMixin, TimestampMixin, Base):
    __tablename__ = "saml_identity_providers"
    __table_args__ = (
        UniqueConstraint("partner_id", "entity_id", name="uq_saml_identity_providers_entity"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    entity_id: Mapped[str] = mapped_column(String(1024))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    metadata_xml: Mapped[str] = mapped_column(Text)
    metadata_url: Mapped[str | None] = mapped_column(String(2048))
    metadata_fetched: Mapped[datetime | None] = mapped_column()
    # PEM certificates from the IdP's <KeyDescriptor use="signing"> (or unqualified) elements.
    signing_certificates: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    sso_url: Mapped[str] = mapped_column(String(2048))
    sso_binding: Mapped[str] = mapped_column(String(10))  # redirect | post
    want_authn_requests_signed: Mapped[bool] = mapped_column(default=False)
    # The attribute that carries the user's email; None = the usual names, then the NameID.
    email_attribute: Mapped[str | None] = mapped_column(String(200))
    # Partner administrators may sign in to the partner portal through this IdP.
    for_administrators: Mapped[bool] = mapped_column(default=False)
    # The e-mail domains whose addresses /signin sends here (``sso_domains``), loaded with it.
    claimed_domains: Mapped[list[SsoDomain]] = relationship(
        foreign_keys=[SsoDomain.saml_idp_id],
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=SsoDomain.domain,
    )
