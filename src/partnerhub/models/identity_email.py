"""One identity per e-mail address: who holds each lower-cased address.

Kept by the database itself (statement-level triggers on ``partner_admins`` and ``org_users``,
migration 0007), never written by the application: an address belongs to partner
administrators (``kind = 'partner_admin'``) or to users of customer organizations
(``'org_user'``), never to both; ``holders`` counts the rows holding it (several ``org_users``
rows while a ``pending_user_migration`` subscriber waits for its user's consent). Sign-in routes
an address to the kind recorded here.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base

PARTNER_ADMIN = "partner_admin"
ORG_USER = "org_user"


class IdentityEmail(Base):
    __tablename__ = "identity_emails"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    holders: Mapped[int] = mapped_column()
