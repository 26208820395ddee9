"""Wire models of onboarding templates (CONTRACT section 7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool

from partnerhub.catalog.languages import SUPPORTED_EMAIL_LANGUAGES
from partnerhub.catalog.regions import REGIONS
from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime, one_of
from partnerhub.kit.wire_types import CountryCode, Email, Text
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


def _idp_named(schema: dict[str, Any]) -> None:
    """A partner identity provider is named: ``idpEntityId`` with ``partner_saml``,
    ``oidcIdpName`` with ``partner_oidc``."""
    schema["anyOf"] = [
        {"properties": {"method": {"const": "platform"}}},
        *(
            {
                "required": ["method", name],
                "properties": {"method": {"const": method}, name: {"type": "string"}},
            }
            for method, name in (
                ("partner_saml", "idpEntityId"),
                ("partner_oidc", "oidcIdpName"),
            )
        ),
    ]


class AuthenticationIn(InputSchema):
    model_config = ConfigDict(json_schema_extra=_idp_named)

    method: Literal["platform", "partner_saml", "partner_oidc"] = "platform"
    idp_entity_id: Text | None = Field(default=None, max_length=1024)
    oidc_idp_name: Text | None = Field(default=None, max_length=200)


class EmailSettingsIn(InputSchema):
    brand_name: Text = Field(max_length=200)
    allow_admin_invite_on_link: StrictBool = False
    allow_platform_calling: StrictBool = False


class TemplateIn(InputSchema):
    name: Text = Field(max_length=200)
    offer: Literal["wholesale"] = "wholesale"
    service_provider_admin_email: Email = Field(max_length=320)
    country: CountryCode = Field(max_length=2)
    default_email_language: Annotated[str, one_of(SUPPORTED_EMAIL_LANGUAGES)] = Field(max_length=10)
    wholesale_subscription_id: Text = Field(max_length=100)
    pstn_provider: str | None = Field(default=None, max_length=100)
    authentication: AuthenticationIn = Field(default_factory=AuthenticationIn)
    email: EmailSettingsIn
    data_region: Annotated[str, one_of(REGIONS)] | None = Field(default=None, max_length=4)
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
