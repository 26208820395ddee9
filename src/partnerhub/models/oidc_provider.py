"""A partner's OpenID Connect providers: templates refer to them by name.

The client secret is stored encrypted (Fernet, key derived from the server secret) and never
leaves the server in an API answer or a page.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnerhub.models.base import Base, IdMixin, TimestampMixin
from partnerhub.models.sso_domain import SsoDomain


class OidcProvider(IdMixin, TimestampMixin, Base):
    __tablename__ = "oidc_providers"
    __table_args__ = (UniqueConstraint("partner_id", "name", name="uq_oidc_providers_name"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(2048))
    client_id: Mapped[str] = mapped_column(String(500))
    client_secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    discovery_url: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[str] = mapped_column(String(500), default="openid email profile")
    for_administrators: Mapped[bool] = mapped_column(default=False)
    # The e-mail domains whose addresses /signin sends here (``sso_domains``), loaded with it.
    claimed_domains: Mapped[list[SsoDomain]] = relationship(
        foreign_keys=[SsoDomain.oidc_provider_id],
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=SsoDomain.domain,
    )
