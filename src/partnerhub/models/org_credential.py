"""Platform sign-in of customer-organization users: password, lock-out, TOTP.

One row per user of ``org_users`` who has (or is invited to) a platform password; users of
organizations that sign in through the partner's SAML or OIDC IdP need none.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base


class OrgCredential(Base):
    __tablename__ = "org_credentials"

    org_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_users.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed: Mapped[datetime | None] = mapped_column()
    # No longer used: the lock-out is the email address's, in ``sign_in_attempts``
    # (kit.ratelimit.attempt; docs/security.md, "Sign-in throttling and lock-out").
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    # Optional TOTP second factor (administrators): the secret, encrypted with the server key.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    totp_last_step: Mapped[int | None] = mapped_column()  # a code is accepted once
    # A new authenticator being enrolled (encrypted like the secret): the enrolled one stays
    # until a code of the new one confirms it.
    totp_pending_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # SHA-256 of the unused recovery codes shown once at enrolment (each works once).
    totp_recovery_hashes: Mapped[list[bytes] | None] = mapped_column(ARRAY(LargeBinary))
    last_login: Mapped[datetime | None] = mapped_column()
