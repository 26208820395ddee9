"""Single sign-on attempts in flight: one row per SAML AuthnRequest or OIDC authorization.

``request_key`` is the AuthnRequest ID (the response's ``InResponseTo``) or the SHA-256 of the
OIDC ``state``; ``browser_hash`` binds the attempt to the browser that started it (a cookie).
A row is used once (``consumed``) and only until ``expires``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, utcnow
from partnerhub.models.sso_domain import OfIdentityProvider


class SsoRequest(IdMixin, OfIdentityProvider, Base):
    __tablename__ = "sso_requests"

    kind: Mapped[str] = mapped_column(String(10))  # saml | oidc
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    nonce: Mapped[str | None] = mapped_column(String(200))
    code_verifier: Mapped[str | None] = mapped_column(String(200))
    next_url: Mapped[str] = mapped_column(String(2048), default="/")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)
    consumed: Mapped[datetime | None] = mapped_column()
