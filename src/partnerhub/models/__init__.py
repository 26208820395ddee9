"""SQLAlchemy tables, one module per table. Importing this package registers them all."""

from partnerhub.models.api_token import ApiToken
from partnerhub.models.audit_event import AuditEvent
from partnerhub.models.base import Base
from partnerhub.models.billing_report import BillingReport
from partnerhub.models.customer import Customer
from partnerhub.models.customer_event import CustomerEvent
from partnerhub.models.event import Event, EventCommit
from partnerhub.models.idempotency_key import IdempotencyKey
from partnerhub.models.identity_email import IdentityEmail
from partnerhub.models.identity_link import IdentityLink
from partnerhub.models.installation_request import InstallationRequest
from partnerhub.models.location import Location
from partnerhub.models.oidc_provider import OidcProvider
from partnerhub.models.org_credential import OrgCredential
from partnerhub.models.org_session import OrgSession
from partnerhub.models.org_user import OrgUser
from partnerhub.models.outbox_email import OutboxEmail
from partnerhub.models.partner import Partner
from partnerhub.models.partner_admin import PartnerAdmin
from partnerhub.models.partner_admin_link import PartnerAdminLink
from partnerhub.models.phone_number import PhoneNumber
from partnerhub.models.portal_session import PortalSession
from partnerhub.models.rate_counter import RateCounter
from partnerhub.models.saml_assertion import SamlAssertion
from partnerhub.models.saml_identity_provider import SamlIdentityProvider
from partnerhub.models.server_key import ServerKey
from partnerhub.models.sign_in_attempt import SignInAttempt
from partnerhub.models.sso_domain import SsoDomain
from partnerhub.models.sso_request import SsoRequest
from partnerhub.models.sso_sp_key import SsoSpKey
from partnerhub.models.subscriber_import import SubscriberImport
from partnerhub.models.template import Template
from partnerhub.models.usage_customer import UsageCustomer
from partnerhub.models.usage_interval import UsageInterval
from partnerhub.models.webhook import Webhook, WebhookAttempt, WebhookDelivery, WebhookDispatch

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "BillingReport",
    "Customer",
    "CustomerEvent",
    "Event",
    "EventCommit",
    "IdempotencyKey",
    "IdentityEmail",
    "IdentityLink",
    "InstallationRequest",
    "Location",
    "OidcProvider",
    "OrgCredential",
    "OrgSession",
    "OrgUser",
    "OutboxEmail",
    "Partner",
    "PartnerAdmin",
    "PartnerAdminLink",
    "PhoneNumber",
    "PortalSession",
    "RateCounter",
    "SamlAssertion",
    "SamlIdentityProvider",
    "ServerKey",
    "SignInAttempt",
    "SsoDomain",
    "SsoRequest",
    "SsoSpKey",
    "SubscriberImport",
    "Template",
    "UsageCustomer",
    "UsageInterval",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDispatch",
]
