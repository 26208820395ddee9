"""Single sign-on attempts in flight: one row per SAML AuthnRequest or OIDC authorization.

``request_key`` is the AuthnRequest ID (the response's ``InResponseTo``) or the SHA-256 of the
OIDC ``state``; ``browser_hash`` binds the attempt to the browser that started it (a cookie).
A row is used once (``consumed``) and only until ``expires``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow


class SsoRequest(IdMixin, Base):
    __tablename__ = "sso_requests"

    kind: Mapped[str] = mapped_column(String(10))  # saml | oidc
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    saml_idp_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("saml_identity_providers.id", ondelete="CASCADE"), index=True
    )
    oidc_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oidc_providers.id", ondelete="CASCADE"), index=True
    )
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    nonce: Mapped[str | None] = mapped_column(String(200))
    code_verifier: Mapped[str | None] = mapped_column(String(200))
    next_url: Mapped[str] = mapped_column(String(2048), default="/")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
    consumed: Mapped[datetime | None] = mapped_column()
