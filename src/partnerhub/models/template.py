"""Onboarding templates.

Rule for later domains: a template edit never changes organizations already created from it.
Customers copy what they need (authentication, PSTN, calling and email settings) into their
own snapshot at creation; nothing reads a template's settings after that.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from partnerhub.models.base import Base, IdMixin, TimestampMixin


class Template(IdMixin, TimestampMixin, Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("partner_id", "name", name="uq_templates_partner_name"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    provisioning_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    offer: Mapped[str] = mapped_column(String(20), default="wholesale")
    service_provider_admin_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_admins.id", ondelete="RESTRICT")
    )
    country: Mapped[str] = mapped_column(String(2))
    default_email_language: Mapped[str] = mapped_column(String(10))
    wholesale_subscription_id: Mapped[str] = mapped_column(String(100))
    pstn_provider: Mapped[str | None] = mapped_column(String(100))
    auth_method: Mapped[str] = mapped_column(String(20), default="platform")
    idp_entity_id: Mapped[str | None] = mapped_column(String(1024))
    oidc_idp_name: Mapped[str | None] = mapped_column(String(200))
    brand_name: Mapped[str] = mapped_column(String(200))
    allow_admin_invite_on_link: Mapped[bool] = mapped_column(default=False)
    allow_platform_calling: Mapped[bool] = mapped_column(default=False)
    data_region: Mapped[str | None] = mapped_column(String(4))
    require_approval: Mapped[bool] = mapped_column(default=False)
