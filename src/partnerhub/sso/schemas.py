"""Wire models of ``/v1/partner/identityProviders`` (hub API).

One endpoint for both kinds; ``type`` says which (``saml`` or ``oidc``). The OIDC client
secret is write-only: answers say only whether one is stored (``clientSecretSet``). Both kinds
take ``domains``, the e-mail domains ``/signin`` sends to the IdP (left out on ``PUT``: kept).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool

from partnerhub.kit.schemas import InputSchema, Schema, UtcDatetime
from partnerhub.sso.service import MAX_DOMAINS, OidcInput, SamlInput

SAML_FIELDS = {"metadata_xml", "metadata_url", "display_name", "email_attribute"}
OIDC_FIELDS = {"name", "issuer", "client_id", "client_secret", "discovery_url", "scopes"}
WIRE = {
    "metadata_xml": "metadataXml",
    "metadata_url": "metadataUrl",
    "display_name": "displayName",
    "email_attribute": "emailAttribute",
    "name": "name",
    "issuer": "issuer",
    "client_id": "clientId",
    "client_secret": "clientSecret",
    "discovery_url": "discoveryUrl",
    "scopes": "scopes",
    "domains": "domains",
}


class IdentityProviderIn(InputSchema):
    type: Literal["saml", "oidc"]
    for_administrators: StrictBool = False
    domains: list[str] | None = Field(default=None, max_length=MAX_DOMAINS)
    # SAML
    metadata_xml: str | None = Field(default=None, max_length=1024 * 1024)
    metadata_url: str | None = Field(default=None, max_length=2048)
    display_name: str | None = Field(default=None, max_length=200)
    email_attribute: str | None = Field(default=None, max_length=200)
    # OIDC
    name: str | None = Field(default=None, max_length=200)
    issuer: str | None = Field(default=None, max_length=2048)
    client_id: str | None = Field(default=None, max_length=500)
    client_secret: str | None = Field(default=None, max_length=2000)
    discovery_url: str | None = Field(default=None, max_length=2048)
    scopes: str | None = Field(default=None, max_length=500)

    def foreign_fields(self) -> list[str]:
        """Fields given that belong to the other type (refused: they would be ignored)."""
        other = OIDC_FIELDS if self.type == "saml" else SAML_FIELDS
        return [WIRE[f] for f in sorted(other) if getattr(self, f) is not None]

    def saml(self) -> SamlInput:
        return SamlInput(
            metadata_xml=self.metadata_xml,
            metadata_url=self.metadata_url,
            display_name=self.display_name or "",
            email_attribute=self.email_attribute,
            for_administrators=self.for_administrators,
            domains=self.domains,
        )

    def oidc(self) -> OidcInput:
        return OidcInput(
            name=self.name or "",
            issuer=self.issuer or "",
            client_id=self.client_id or "",
            client_secret=self.client_secret,
            discovery_url=self.discovery_url,
            scopes=self.scopes,
            for_administrators=self.for_administrators,
            domains=self.domains,
        )


class CertificateOut(Schema):
    subject: str
    not_after: str
    sha256: str


class ServiceProviderOut(Schema):
    entity_id: str
    acs_url: str
    metadata_url: str


class SamlIdpOut(Schema):
    id: str
    type: Literal["saml"] = "saml"
    entity_id: str
    display_name: str
    metadata_url: str | None
    metadata_fetched: UtcDatetime | None
    sso_url: str
    sso_binding: str
    want_authn_requests_signed: bool
    signing_certificates: list[CertificateOut]
    email_attribute: str | None
    for_administrators: bool
    domains: list[str]
    service_provider: ServiceProviderOut
    created: UtcDatetime
    updated: UtcDatetime


class OidcProviderOut(Schema):
    id: str
    type: Literal["oidc"] = "oidc"
    name: str
    issuer: str
    client_id: str
    client_secret_set: bool
    discovery_url: str
    scopes: str
    for_administrators: bool
    domains: list[str]
    redirect_uri: str
    created: UtcDatetime
    updated: UtcDatetime


class IdentityProviderList(Schema):
    items: list[SamlIdpOut | OidcProviderOut]
