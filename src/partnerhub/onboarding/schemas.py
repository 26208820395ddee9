"""Wire models of onboarding templates (CONTRACT section 7)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime
from partnerhub.onboarding.service import TemplateData

# Service field names → where they sit in the wire body (for error descriptions).
WIRE_FIELDS = {
    "offer": "offer",
    "name": "name",
    "service_provider_admin_email": "serviceProviderAdminEmail",
    "country": "country",
    "default_email_language": "defaultEmailLanguage",
    "wholesale_subscription_id": "wholesaleSubscriptionId",
    "data_region": "dataRegion",
    "require_approval": "requireApproval",
    "pstn_provider": "pstnProvider",
    "auth_method": "authentication.method",
    "idp_entity_id": "authentication.idpEntityId",
    "oidc_idp_name": "authentication.oidcIdpName",
    "brand_name": "email.brandName",
    "allow_admin_invite_on_link": "email.allowAdminInviteOnLink",
    "allow_platform_calling": "email.allowPlatformCalling",
}


class AuthenticationIn(InputSchema):
    method: Literal["platform", "partner_saml", "partner_oidc"] = "platform"
    idp_entity_id: str | None = Field(default=None, max_length=1024)
    oidc_idp_name: str | None = Field(default=None, max_length=200)


class EmailSettingsIn(InputSchema):
    brand_name: str = Field(max_length=200)
    allow_admin_invite_on_link: StrictBool = False
    allow_platform_calling: StrictBool = False


class TemplateIn(InputSchema):
    name: str = Field(max_length=200)
    offer: Literal["wholesale"] = "wholesale"
    service_provider_admin_email: str = Field(max_length=320)
    country: str = Field(max_length=2)
    default_email_language: str = Field(max_length=10)
    wholesale_subscription_id: str = Field(max_length=100)
    pstn_provider: str | None = Field(default=None, max_length=100)
    authentication: AuthenticationIn = Field(default_factory=AuthenticationIn)
    email: EmailSettingsIn
    data_region: str | None = Field(default=None, max_length=4)
    require_approval: StrictBool = False

    def to_data(self) -> TemplateData:
        return TemplateData(
            name=self.name,
            offer=self.offer,
            service_provider_admin_email=self.service_provider_admin_email,
            country=self.country,
            default_email_language=self.default_email_language,
            wholesale_subscription_id=self.wholesale_subscription_id,
            pstn_provider=self.pstn_provider,
            auth_method=self.authentication.method,
            idp_entity_id=self.authentication.idp_entity_id,
            oidc_idp_name=self.authentication.oidc_idp_name,
            brand_name=self.email.brand_name,
            allow_admin_invite_on_link=self.email.allow_admin_invite_on_link,
            allow_platform_calling=self.email.allow_platform_calling,
            data_region=self.data_region,
            require_approval=self.require_approval,
        )


class AuthenticationOut(Schema):
    method: str
    idp_entity_id: str | None = None
    oidc_idp_name: str | None = None


class EmailSettingsOut(Schema):
    brand_name: str
    allow_admin_invite_on_link: bool
    allow_platform_calling: bool


class TemplateOut(Schema):
    id: str
    provisioning_id: str
    name: str
    offer: str
    service_provider_admin_email: str
    country: str
    default_email_language: str
    wholesale_subscription_id: str
    pstn_provider: str | None
    authentication: AuthenticationOut
    email: EmailSettingsOut
    data_region: str | None
    require_approval: bool
    customer_count: int
    created: UtcDatetime
    updated: UtcDatetime


class TemplateList(Schema):
    items: list[TemplateOut]
