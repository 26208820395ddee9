# ruff: noqa: E501  (the matrix table keeps one route per line)
"""The tenant isolation matrix (issue 6, item 3): every API endpoint and every portal page,
each called with a real id of the victim's, by everyone who must not reach it.

The table below has one row per route of the app; :func:`test_every_route_has_a_row` fails when
an endpoint is added without one (public routes are an explicit allow-list). Each row is called
with the credentials of its kind:

* API (bearer tokens): another partner, a sibling sub-partner, the parent partner without
  ``onBehalfOfSubPartnerOrgId``, the sibling and the other partner *with* it naming the victim,
  the victim's expired and revoked tokens, a portal or customer-portal session cookie instead of
  a token, and the victim's token without the scope;
* partner portal pages: the other partner's, the sibling's and the parent's administrators,
  another customer's administrator (a customer-portal session), the victim's expired and
  signed-out sessions, and a read-only administrator on the pages that change something;
* customer portal pages (``/org/{customer}``): the same partner administrators, the
  administrator of another customer of the same partner, expired and signed-out sessions, a
  user without an administrator role and a read-only administrator.

Expected (CONTRACT sections 1 and 6): another tenant's id is not found (404, errorCode 1100 on
the API); no valid credential is 401 (errorCode 1500) on the API and a sign-in redirect in the
portals; a missing scope or role is 403 (errorCode 1300). No answer ever carries the victim's
data (names, emails, ids) unless the caller sent it, and the victim's rows are identical before
and after. Rows whose path mixes an id of the caller's own with one of the victim's are also
called that way (``mix``). Positive controls: the victim's own credential (and the parent acting
for it) gets the pages it should, so the ids are real.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from partnerhub.config import Settings
from partnerhub.partners.api import wholesale_principal
from tests.conftest import _clean
from tests.reliability.isolation.headers import frame_and_script_policy
from tests.reliability.isolation.world import (
    Session,
    World,
    build,
    fingerprint,
)

API, PORTAL, ORG = "api", "portal", "org"

# Routes nobody needs a tenant credential for, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "the API description",
    ("GET", "/docs"): "Swagger UI",
    ("GET", "/docs/oauth2-redirect"): "Swagger UI",
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/login"): "partner portal sign-in",
    ("POST", "/login"): "partner portal sign-in",
    ("POST", "/logout"): "ends the caller's own session",
    ("POST", "/language"): "the caller's own session language",
    ("GET", "/signin"): "customer portal sign-in",
    ("POST", "/signin"): "customer portal sign-in",
    ("POST", "/signin/password"): "customer portal sign-in",
    ("GET", "/signin/totp"): "second factor of the caller's own pending sign-in",
    ("POST", "/signin/totp"): "second factor of the caller's own pending sign-in",
    ("GET", "/signin/forgot"): "password reset request",
    ("POST", "/signin/forgot"): "password reset request (answers the same for any email)",
    ("GET", "/signin/done"): "static confirmation",
    ("GET", "/account/set-password/{token}"): "the signed link is the credential",
    ("POST", "/account/set-password/{token}"): "the signed link is the credential",
    ("GET", "/account/reset-password/{token}"): "the signed link is the credential",
    ("POST", "/account/reset-password/{token}"): "the signed link is the credential",
    ("GET", "/consent/{token}"): "the emailed token; only the moving user, signed in, accepts",
    ("POST", "/consent/{token}"): "the emailed token; only the moving user, signed in, accepts",
    ("GET", "/account/admin-password/{token}"): "the signed link is the credential",
    ("POST", "/account/admin-password/{token}"): "the signed link is the credential",
    ("GET", "/sso/saml/{partner_ref}/metadata"): "public SAML SP metadata",
    ("GET", "/sso/saml/{partner_ref}/login"): "starts single sign-on",
    ("POST", "/sso/saml/{partner_ref}/acs"): "the signed SAML response is the credential",
    ("GET", "/sso/oidc/{partner_ref}/login"): "starts single sign-on",
    ("GET", "/sso/oidc/{partner_ref}/callback"): "the IdP's code and state are the credential",
    ("POST", "/org/logout"): "ends the caller's own session",
    (
        "GET",
        "/v1/wholesale/billing/reports/{report_id}/download",
    ): "the signed link is the credential (tempDownloadURL)",
}

TEMPLATE_BODY: dict[str, Any] = {
    "name": "Matrix template",
    "offer": "wholesale",
    "serviceProviderAdminEmail": "@@admin_email",
    "country": "IT",
    "defaultEmailLanguage": "it_IT",
    "wholesaleSubscriptionId": "Sub-1234",
    "authentication": {"method": "platform"},
    "email": {"brandName": "Matrix Cloud", "allowAdminInviteOnLink": False},
}
ADDRESS = {
    "addressLine1": "771 Alder Drive",
    "city": "Milpitas",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "95035",
    "country": "US",
}
LOCATION_BODY: dict[str, Any] = {
    "orgId": "@org",
    "name": "Matrix office",
    "timeZone": "America/Los_Angeles",
    "preferredLanguage": "en_US",
    "announcementLanguage": "en_US",
    "address": {
        "address1": "1 Market St",
        "city": "San Francisco",
        "state": "CA",
        "postalCode": "94105",
        "country": "US",
    },
}
SUBSCRIBER_BODY: dict[str, Any] = {
    "customerId": "@customer",
    "email": "matrix-new@matrix.example",
    "packages": ["webex_meetings"],
}
CUSTOMER_BODY: dict[str, Any] = {
    "provisioningId": "@provisioning_id",
    "packages": ["webex_meetings"],
    "externalId": "matrix-ext",
    "address": ADDRESS,
    "customerInfo": {"name": "Matrix Pizza", "primaryEmail": "matrix@pizza.example"},
}


@dataclass(frozen=True)
class Row:
    """One route: how to call it with the victim's ids, and what outsiders get."""

    method: str
    path: str
    fill: dict[str, str] = field(default_factory=dict)  # path parameter -> world id
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    # what another tenant gets: 404 for the victim's ids; lists and the caller's own settings
    # answer 200 (without the victim's data); "self" actions given an invalid or foreign input
    # are refused with this status, changing nothing
    foreign: int | tuple[int, ...] = 404
    scope: bool = True  # API: some scope is needed (a token without it gets 403)
    write: bool = False  # partner portal: refused (403) to a read-only administrator
    manage: bool = False  # customer portal: refused (403) to a read-only administrator
    ok: int | None = None  # the victim's own credential (only rows that change nothing)
    mix: tuple[str, ...] = ()  # path parameters the caller may replace by its own customer
    parent_sees: bool = False  # the parent legitimately sees the victim (its sub-partner)
    partner_ok: bool = True  # customer portal: the partner's administrator may open it too

    @property
    def kind(self) -> str:
        if self.path.startswith("/v1/"):
            return API
        if self.path.startswith("/org"):
            return ORG
        return PORTAL


def api(method: str, path: str, **kw: Any) -> Row:
    return Row(method, path, **kw)


C = {"customer_id": "customer"}
SUB = {"org_id": "sub_org"}  # the victim's own sub-partner
ROWS: list[Row] = [
    # --- hub: templates, administrators, settings, identity providers -----------------------
    api("GET", "/v1/partner/templates", foreign=200, ok=200),
    api("POST", "/v1/partner/templates", json={**TEMPLATE_BODY, "serviceProviderAdminEmail": "@admin_email"}, foreign=400),
    api("GET", "/v1/partner/templates/{template_id}", fill={"template_id": "template"}, ok=200),
    api("PUT", "/v1/partner/templates/{template_id}", fill={"template_id": "template"}, json=TEMPLATE_BODY),
    api("DELETE", "/v1/partner/templates/{template_id}", fill={"template_id": "template"}),
    api("GET", "/v1/partner/administrators", foreign=200, ok=200),
    api("POST", "/v1/partner/administrators", json={"email": "not-an-email", "role": "admin", "password": "long enough password"}, foreign=400),
    api("PUT", "/v1/partner/administrators/{admin_id}", fill={"admin_id": "admin"}, json={"displayName": "Taken over"}),
    api("GET", "/v1/partner/settings", foreign=200, ok=200),
    api("GET", "/v1/adminAudit/events", query={"orgId": "@org", "from": "2000-01-01T00:00:00Z", "to": "2000-12-01T00:00:00Z"}, ok=200, parent_sees=True),
    api("GET", "/v1/adminAudit/eventCategories", foreign=200, ok=200),
    api("PUT", "/v1/partner/settings", json={"name": "", "supportEmail": "not-an-email"}, foreign=400),
    api("GET", "/v1/partner/identityProviders", foreign=200, ok=200),
    api("POST", "/v1/partner/identityProviders", json={"type": "saml"}, foreign=400),
    api("GET", "/v1/partner/identityProviders/{provider_id}", fill={"provider_id": "idp"}, ok=200),
    api("PUT", "/v1/partner/identityProviders/{provider_id}", fill={"provider_id": "idp"}, json={"type": "saml", "displayName": "Taken over"}),
    api("DELETE", "/v1/partner/identityProviders/{provider_id}", fill={"provider_id": "idp"}),
    # --- wholesale: sub-partners, customers --------------------------------------------------
    api("GET", "/v1/wholesale/subPartners", foreign=200, ok=200, parent_sees=True),
    api("POST", "/v1/wholesale/subPartners", json={"name": "Matrix Reseller", "administrator": {"email": "@admin_email"}}, foreign=409),
    api("GET", "/v1/wholesale/subPartners/{org_id}", fill=SUB, ok=200),
    api("PUT", "/v1/wholesale/subPartners/{org_id}", fill=SUB, json={"provisioningState": "suspended"}),
    api("GET", "/v1/wholesale/subPartners/{org_id}/administrators", fill=SUB, ok=200),
    api("POST", "/v1/wholesale/subPartners/{org_id}/administrators", fill=SUB, json={"email": "matrix-admin@matrix.example", "role": "full_admin"}),
    api("PUT", "/v1/wholesale/subPartners/{org_id}/administrators/{admin_id}", fill={**SUB, "admin_id": "sub_admin"}, json={"active": False}),
    api("GET", "/v1/wholesale/customers", query={"externalId": "@external_id"}, foreign=200, ok=200),
    api("POST", "/v1/wholesale/customers", json=CUSTOMER_BODY),
    api("POST", "/v1/wholesale/customers/validate", json=CUSTOMER_BODY),
    api("GET", "/v1/wholesale/customers/{customer_id}", fill=C, ok=200),
    api("PUT", "/v1/wholesale/customers/{customer_id}", fill=C, json={"packages": ["webex_meetings"]}),
    api("DELETE", "/v1/wholesale/customers/{customer_id}", fill=C),
    api("POST", "/v1/wholesale/customers/{customer_id}/approve", fill=C),
    # --- locations and numbers -----------------------------------------------------------------
    api("GET", "/v1/locations", query={"orgId": "@org"}, foreign=200, ok=200),
    api("POST", "/v1/locations", json=LOCATION_BODY),
    api("GET", "/v1/locations/{location_id}", fill={"location_id": "location"}, ok=200),
    api("PUT", "/v1/locations/{location_id}", fill={"location_id": "location"}, json={**LOCATION_BODY, "orgId": None}),
    api("DELETE", "/v1/locations/{location_id}", fill={"location_id": "location"}),
    api("GET", "/v1/telephony/config/numbers", query={"orgId": "@org"}, foreign=200, ok=200),
    api("POST", "/v1/telephony/config/locations/{location_id}/numbers", fill={"location_id": "location"}, json={"phoneNumbers": ["+14155550060"]}),
    api("DELETE", "/v1/telephony/config/locations/{location_id}/numbers", fill={"location_id": "location"}, json={"phoneNumbers": ["@number"]}),
    # --- subscribers -----------------------------------------------------------------------------
    api("GET", "/v1/wholesale/subscribers", query={"customerId": "@customer"}, foreign=200, ok=200),
    api("POST", "/v1/wholesale/subscribers", json=SUBSCRIBER_BODY),
    api("POST", "/v1/wholesale/subscribers/validate", json=SUBSCRIBER_BODY),
    api("GET", "/v1/wholesale/subscribers/{subscriber_id}", fill={"subscriber_id": "subscriber"}, ok=200),
    api("PUT", "/v1/wholesale/subscribers/{subscriber_id}", fill={"subscriber_id": "subscriber"}, json={"packages": ["webex_meetings"]}),
    api("DELETE", "/v1/wholesale/subscribers/{subscriber_id}", fill={"subscriber_id": "subscriber"}),
    api("POST", "/v1/wholesale/subscribers/{subscriber_id}/emails/consentMove", fill={"subscriber_id": "subscriber"}),
    api("POST", "/v1/subscribers/{subscriber_id}/emails/consentMove", fill={"subscriber_id": "subscriber"}),
    # --- billing reports (subPartnerOrgId, not onBehalfOfSubPartnerOrgId) ------------------------
    api("GET", "/v1/wholesale/billing/reports", foreign=200, ok=200),
    api("POST", "/v1/wholesale/billing/reports", json={"billingStartDate": "2026-01-01", "billingEndDate": "2026-01-31", "subPartnerOrgId": "@sub_org"}),
    api("GET", "/v1/wholesale/billing/reports/{report_id}", fill={"report_id": "billing_report"}, ok=200),
    api("DELETE", "/v1/wholesale/billing/reports/{report_id}", fill={"report_id": "billing_report"}),
    # --- webhooks and the event feed -----------------------------------------------------------
    api("GET", "/v1/webhooks", foreign=200, ok=200),
    api("POST", "/v1/webhooks", json={"name": "spy", "targetUrl": "https://spy.example/in", "resource": "wholesaleCustomers", "event": "all", "filter": "@customer_filter"}, foreign=400),
    api("GET", "/v1/webhooks/{webhook_id}", fill={"webhook_id": "webhook"}, ok=200),
    api("PUT", "/v1/webhooks/{webhook_id}", fill={"webhook_id": "webhook"}, json={"name": "Taken over", "targetUrl": "https://spy.example/in"}),
    api("DELETE", "/v1/webhooks/{webhook_id}", fill={"webhook_id": "webhook"}),
    api("POST", "/v1/webhooks/{webhook_id}/test", fill={"webhook_id": "webhook"}),
    api("GET", "/v1/webhooks/{webhook_id}/deliveries", fill={"webhook_id": "webhook"}, ok=200),
    api("GET", "/v1/events", query={"customerId": "@customer"}, foreign=200, ok=200, scope=False),
    # --- customer administrators, imports, installation requests ------------------------------
    api("GET", "/v1/partner/customerRoles", foreign=200, ok=200),
    api("GET", "/v1/partner/customers/{customer_id}/administrators", fill=C, ok=200),
    api("GET", "/v1/partner/customers/{customer_id}/administrators/{person_id}", fill={**C, "person_id": "org_admin"}, ok=200, mix=("customer_id",)),
    api("PUT", "/v1/partner/customers/{customer_id}/administrators/{person_id}/roles", fill={**C, "person_id": "org_admin"}, json={"roles": []}, mix=("customer_id",)),
    api("POST", "/v1/partner/customers/{customer_id}/imports", fill=C, json={"csv": "email,package\nmatrix@matrix.example,webex_meetings\n"}),
    api("GET", "/v1/partner/customers/{customer_id}/imports", fill=C, ok=200),
    api("GET", "/v1/partner/customers/{customer_id}/imports/{import_id}", fill={**C, "import_id": "import"}, ok=200, mix=("customer_id",)),
    api("GET", "/v1/partner/customers/{customer_id}/imports/{import_id}/result", fill={**C, "import_id": "import"}, ok=200, mix=("customer_id",)),
    api("GET", "/v1/partner/customers/{customer_id}/installationRequests", fill=C, ok=200),
    api("POST", "/v1/partner/customers/{customer_id}/installationRequests", fill=C, json={"contactName": "Matrix", "contactEmail": "m@matrix.example"}),
    # --- partner portal ---------------------------------------------------------------------------
    Row("GET", "/", foreign=303, ok=303),
    Row("GET", "/settings/administrators", foreign=200, ok=200),
    Row("POST", "/settings/administrators", form={"email": "x@matrix.example", "role": "admin", "password": "short"}, foreign=400, write=True),
    Row("POST", "/settings/administrators/{admin_id}", fill={"admin_id": "admin_uuid"}, form={"role": "read_only"}, write=True),
    Row("POST", "/settings/administrators/{admin_id}/unlock", fill={"admin_id": "admin_uuid"}, form={}, write=True),
    Row("GET", "/settings/partner", foreign=200, ok=200),
    Row("GET", "/billing", foreign=200, ok=200, parent_sees=True),  # its sub-partners to choose from
    Row("GET", "/billing/reports", foreign=200, ok=200),
    Row("POST", "/billing", form={"start": "", "end": ""}, foreign=400, write=True, parent_sees=True),
    Row("GET", "/billing/{report_ref}/download", fill={"report_ref": "billing_report"}),
    Row("POST", "/billing/{report_ref}/delete", fill={"report_ref": "billing_report"}, form={}, write=True),
    Row("GET", "/sub-partners", foreign=200, ok=200, parent_sees=True),
    Row("POST", "/sub-partners", form={"name": "", "admin_email": "x@matrix.example"}, foreign=400, write=True, parent_sees=True),
    Row("GET", "/sub-partners/{sub_ref}", fill={"sub_ref": "sub_org"}, ok=200),
    Row("GET", "/sub-partners/{sub_ref}/{action}", fill={"sub_ref": "sub_org", "action": "=suspend"}, write=True, ok=200),
    Row("POST", "/sub-partners/{sub_ref}/{action}", fill={"sub_ref": "sub_org", "action": "=suspend"}, form={}, write=True),
    Row("POST", "/sub-partners/{sub_ref}/administrators", fill={"sub_ref": "sub_org"}, form={"email": "m@matrix.example", "role": "admin"}, write=True),
    Row("POST", "/sub-partners/{sub_ref}/administrators/{admin_id}", fill={"sub_ref": "sub_org", "admin_id": "sub_admin_uuid"}, form={"active": "false"}, write=True),
    Row("POST", "/settings/partner", form={"name": ""}, foreign=400, write=True),
    Row("GET", "/webhooks", foreign=200, ok=200),
    Row("POST", "/webhooks", form={"name": "spy", "target_url": "https://spy.example/in", "resource": "wholesaleCustomers", "event": "all", "filter": "@customer_filter"}, foreign=400, write=True),
    Row("GET", "/webhooks/{webhook_ref}", fill={"webhook_ref": "webhook"}, ok=200),
    Row("POST", "/webhooks/{webhook_ref}", fill={"webhook_ref": "webhook"}, form={"name": "Taken over", "target_url": "https://spy.example/in"}, write=True),
    Row("POST", "/webhooks/{webhook_ref}/{action}", fill={"webhook_ref": "webhook", "action": "=test"}, form={}, write=True),
    Row("GET", "/settings/tokens", foreign=200, ok=200),
    Row("GET", "/audit", foreign=200, ok=200, parent_sees=True),  # its sub-partners' logs (docs/audit.md)
    Row("POST", "/settings/tokens", form={"name": "", "scopes": "partnerhub:templates_read"}, foreign=400, write=True),
    Row("POST", "/settings/tokens/{token_id}/revoke", fill={"token_id": "token_uuid"}, form={}, write=True),
    Row("GET", "/settings/identity-providers", foreign=200, ok=200),
    Row("POST", "/settings/identity-providers/saml", form={"display_name": "x"}, foreign=400, write=True),
    Row("POST", "/settings/identity-providers/oidc", form={"name": "x"}, foreign=400, write=True),
    Row("POST", "/settings/identity-providers/{provider_id}/delete", fill={"provider_id": "idp"}, form={}, write=True),
    Row("GET", "/customers/templates", foreign=200, ok=200),
    Row("GET", "/customers/templates/new", foreign=303, write=True, ok=303),
    Row("GET", "/customers/templates/wizard/{step}", fill={"step": "=offer"}, foreign=(200, 303), write=True),
    Row("POST", "/customers/templates/wizard/{step}", fill={"step": "=offer"}, form={"offer": "wholesale"}, foreign=303, write=True),
    Row("GET", "/customers/templates/{template_id}", fill={"template_id": "template"}, ok=200),
    Row("GET", "/customers/templates/{template_id}/edit", fill={"template_id": "template"}, write=True),
    Row("POST", "/customers/templates/{template_id}/delete", fill={"template_id": "template"}, form={}, write=True),
    Row("GET", "/customers", query={"q": "Victimcorp"}, foreign=200, ok=200),
    Row("GET", "/customers/outbox", foreign=200, ok=200),
    Row("GET", "/customers/outbox/{email_id}", fill={"email_id": "email"}, ok=200),
    Row("GET", "/customers/new", foreign=303, write=True, ok=303),
    Row("GET", "/customers/wizard/{step}", fill={"step": "=customer"}, foreign=(200, 303), write=True),
    Row("POST", "/customers/wizard/{step}", fill={"step": "=customer"}, form={"template": "@provisioning_id"}, foreign=400, write=True),
    Row("GET", "/customers/{customer_id}", fill=C, ok=200),
    Row("GET", "/customers/{customer_id}/status", fill=C, ok=200),
    Row("POST", "/customers/{customer_id}/packages", fill=C, form={"packages": "webex_meetings"}, write=True),
    Row("GET", "/customers/{customer_id}/delete", fill=C, write=True, ok=200),
    Row("POST", "/customers/{customer_id}/delete", fill=C, form={}, write=True),
    Row("POST", "/customers/{customer_id}/approve", fill=C, form={}, write=True),
    Row("GET", "/customers/{customer_id}/setup", fill=C, ok=200),
    Row("GET", "/customers/{customer_id}/setup/users", fill=C, ok=303),
    Row("POST", "/customers/{customer_id}/setup/numbers", fill=C, form={"location": "@location", "numbers": "+14155550070"}, write=True),
    Row("POST", "/customers/{customer_id}/setup/import", fill=C, files={"file": ("u.csv", b"email,package\nm@matrix.example,webex_meetings\n", "text/csv")}, write=True),
    Row("GET", "/customers/{customer_id}/setup/imports/{import_id}", fill={**C, "import_id": "import"}, ok=200, mix=("customer_id",)),
    Row("GET", "/customers/{customer_id}/setup/imports/{import_id}/progress", fill={**C, "import_id": "import"}, ok=200, mix=("customer_id",)),
    Row("GET", "/customers/{customer_id}/setup/imports/{import_id}/result", fill={**C, "import_id": "import"}, ok=200, mix=("customer_id",)),
    Row("GET", "/customers/{customer_id}/locations/new", fill=C, write=True, ok=200),
    Row("POST", "/customers/{customer_id}/locations/new", fill=C, form={"name": ""}, write=True),
    Row("GET", "/customers/{customer_id}/locations/{location_ref}/edit", fill={**C, "location_ref": "location"}, write=True, ok=200, mix=("customer_id",)),
    Row("POST", "/customers/{customer_id}/locations/{location_ref}/edit", fill={**C, "location_ref": "location"}, form={"name": ""}, write=True, mix=("customer_id",)),
    Row("GET", "/customers/{customer_id}/locations/{location_ref}/delete", fill={**C, "location_ref": "location"}, write=True, ok=200, mix=("customer_id",)),
    Row("POST", "/customers/{customer_id}/locations/{location_ref}/delete", fill={**C, "location_ref": "location"}, form={}, write=True, mix=("customer_id",)),
    Row("POST", "/customers/{customer_id}/setup/assistance", fill=C, form={"contact_name": "Matrix", "contact_email": "m@matrix.example"}, write=True),
    Row("POST", "/customers/{customer_id}/setup/assistance/{request_id}/status", fill={**C, "request_id": "installation_request"}, form={"status": "done"}, write=True, mix=("customer_id",)),
    # --- customer portal ---------------------------------------------------------------------------
    Row("GET", "/org", foreign=303),
    Row("GET", "/org/{customer_ref}", fill={"customer_ref": "customer"}, ok=303),
    Row("GET", "/org/{customer_ref}/users", fill={"customer_ref": "customer"}, ok=200),
    Row("POST", "/org/{customer_ref}/users", fill={"customer_ref": "customer"}, form={"email": "m@matrix.example", "package": "webex_meetings"}, manage=True),
    Row("POST", "/org/{customer_ref}/users/{user_ref}/remove", fill={"customer_ref": "customer", "user_ref": "org_user"}, form={}, manage=True, mix=("customer_ref",)),
    Row("POST", "/org/{customer_ref}/users/{user_ref}/unlock", fill={"customer_ref": "customer", "user_ref": "org_user"}, form={}, manage=True, mix=("customer_ref",)),
    Row("GET", "/org/{customer_ref}/administrators", fill={"customer_ref": "customer"}, ok=200),
    Row("POST", "/org/{customer_ref}/administrators/{user_ref}", fill={"customer_ref": "customer", "user_ref": "org_user"}, form={"roles": "full_admin"}, manage=True, mix=("customer_ref",)),
    Row("GET", "/org/{customer_ref}/locations", fill={"customer_ref": "customer"}, ok=200),
    Row("GET", "/org/{customer_ref}/numbers", fill={"customer_ref": "customer"}, ok=200),
    Row("GET", "/org/{customer_ref}/emails", fill={"customer_ref": "customer"}, ok=200),
    Row("GET", "/org/{customer_ref}/audit", fill={"customer_ref": "customer"}, ok=200),
    Row("GET", "/org/{customer_ref}/account", fill={"customer_ref": "customer"}, ok=200, partner_ok=False),
    Row("POST", "/org/{customer_ref}/account/totp", fill={"customer_ref": "customer"}, form={"step": "start"}),
    Row("POST", "/org/{customer_ref}/account/password", fill={"customer_ref": "customer"}, form={"current": "not it", "password": "matrix-password-1", "confirm": "matrix-password-1"}),
    Row("GET", "/org/{customer_ref}/users/add-wholesale", fill={"customer_ref": "customer"}, manage=True, ok=200),
    Row("POST", "/org/{customer_ref}/users/add-wholesale", fill={"customer_ref": "customer"}, form={"email-0": "m@matrix.example", "package-0": "webex_meetings"}, manage=True),
    Row("POST", "/org/{customer_ref}/users/assign-numbers", fill={"customer_ref": "customer"}, form={"email-0": "m@matrix.example", "package-0": "webex_meetings"}, manage=True),
    Row("GET", "/org/{customer_ref}/users/{user_ref}/package", fill={"customer_ref": "customer", "user_ref": "org_user"}, manage=True, ok=200, mix=("customer_ref",)),
    Row("POST", "/org/{customer_ref}/users/{user_ref}/package", fill={"customer_ref": "customer", "user_ref": "org_user"}, form={"package": "webex_meetings"}, manage=True, mix=("customer_ref",)),
]  # fmt: skip


# --- the app's routes ----------------------------------------------------------------------


def app_routes(app: FastAPI) -> Iterator[Any]:
    """Every route, flattened (FastAPI >= 0.16x keeps included routers lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        yield from app.routes
        return
    yield from iter_route_contexts(app.routes)


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    keys = set()
    for route in app_routes(app):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                keys.add((method, route.path))
    return keys


def uses_on_behalf(app: FastAPI) -> set[tuple[str, str]]:
    """Routes whose principal honours ``onBehalfOfSubPartnerOrgId`` (wholesale_principal)."""

    def calls(dependant: Any) -> Iterator[Any]:
        for dep in dependant.dependencies:
            yield dep.call
            yield from calls(dep)

    out = set()
    for route in app_routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is not None and wholesale_principal in set(calls(dependant)):
            out.update((m, route.path) for m in route.methods)
    return out


# --- one database for the module -------------------------------------------------------------


@pytest.fixture(scope="module")
async def world(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[FastAPI, World]]:
    from partnerhub.app import create_app

    _clean(database_url)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("isolation"),
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        sso_allow_private_addresses=True,
        login_failures_per_window=1000,
    )
    application = create_app(settings, database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            yield application, await build(c, application.state.db)


# --- calling a cell ------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    token: str | None = None
    session: Session | None = None
    admin_email: str = ""  # for bodies naming "the caller's own administrator"
    own_customer: str | None = None  # the caller's own customer id (for ``mix`` cells)
    query: dict[str, str] = field(default_factory=dict)


def _subst(value: Any, w: World, caller: Caller) -> Any:
    if isinstance(value, str):
        if value == "@@admin_email":
            return caller.admin_email
        if value == "@admin_email":
            return w.victim.admin.email
        if value.startswith("@"):
            return w.id(value[1:])
        return value
    if isinstance(value, dict):
        return {k: _subst(v, w, caller) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_subst(v, w, caller) for v in value]
    return value


def _path(row: Row, w: World, overrides: dict[str, str] | None = None) -> str:
    values = {name: key[1:] if key.startswith("=") else w.id(key) for name, key in row.fill.items()}
    values.update(overrides or {})
    return row.path.format(**values)


@dataclass
class Outcome:
    row: Row
    caller: str
    request: str
    response: httpx.Response


async def call(
    transport: httpx.AsyncBaseTransport,
    row: Row,
    w: World,
    caller: Caller,
    path_overrides: dict[str, str] | None = None,
) -> Outcome:
    """One request straight through the ASGI transport (no cookie jar: cells run at once)."""
    url = _path(row, w, path_overrides)
    headers: dict[str, str] = {}
    if caller.token is not None:
        headers["Authorization"] = f"Bearer {caller.token}"
    if caller.session is not None:
        headers["Cookie"] = f"{caller.session.cookie_name}={caller.session.cookie}"
    params = {**_subst(row.query, w, caller), **caller.query}
    kwargs: dict[str, Any] = {"params": params, "headers": headers}
    if row.json is not None:
        kwargs["json"] = _subst(row.json, w, caller)
    if row.form is not None or row.files is not None:
        form = dict(_subst(row.form or {}, w, caller))
        if caller.session is not None:
            form["csrf_token"] = caller.session.csrf
        kwargs["data"] = form
        if row.files is not None:
            kwargs["files"] = row.files
    request = httpx.Request(row.method, "https://testserver" + url, **kwargs)
    response = await transport.handle_async_request(request)
    await response.aread()
    sent = (
        url + json.dumps(params) + json.dumps(kwargs.get("json")) + json.dumps(kwargs.get("data"))
    )
    return Outcome(row, caller.name, sent, response)


def leaked(outcome: Outcome, markers: set[str]) -> list[str]:
    """Victim data in the answer (body or headers) that the caller did not send itself."""
    answer = outcome.response.text + " ".join(
        f"{k}: {v}" for k, v in outcome.response.headers.items()
    )
    return sorted(m for m in markers if m in answer and m not in outcome.request)


def contract_error(response: httpx.Response, status: int, code: int) -> str | None:
    """None if the answer is the contract's error body with this status and errorCode."""
    if response.status_code != status:
        return f"status {response.status_code}, expected {status}"
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    if set(body) != {"message", "errors", "trackingId"} or body["errors"][0]["errorCode"] != code:
        return f"body {body}"
    return None


def login_redirect(response: httpx.Response, target: str) -> str | None:
    location = response.headers.get("location", "")
    if response.status_code != 303 or not location.startswith(target):
        return f"status {response.status_code} location {location!r}, expected 303 {target}"
    return None


def status_is(response: httpx.Response, status: int | tuple[int, ...]) -> str | None:
    if response.status_code not in (status if isinstance(status, tuple) else (status,)):
        return f"status {response.status_code}, expected {status}: {response.text[:300]}"
    return None


Check = Callable[[httpx.Response], str | None]


def cells(app: FastAPI, w: World) -> Iterator[tuple[Row, Caller, Check, dict[str, str] | None]]:
    """Every (row, caller, expectation) of the matrix."""
    on_behalf_routes = uses_on_behalf(app)
    victim_org = {"onBehalfOfSubPartnerOrgId": w.id("partner_org")}
    outsiders = {"other partner": w.other, "sibling sub-partner": w.sibling, "parent": w.parent}
    assert w.session and w.expired_session and w.signed_out_session and w.read_only_session
    assert w.beta_admin and w.alpha_admin and w.alpha_read_only and w.alpha_no_role
    assert w.expired_org_session and w.signed_out_org_session

    def not_found(row: Row) -> Check:
        if row.kind == API:
            return lambda r: contract_error(r, 404, 1100)
        return lambda r: status_is(r, 404)

    def foreign(row: Row) -> Check:
        return not_found(row) if row.foreign == 404 else (lambda r: status_is(r, row.foreign))

    def empty_list(check: Check) -> Check:
        """A filter naming the victim's resource answers like one naming nothing."""

        def run(r: httpx.Response) -> str | None:
            problem = check(r)
            if problem is None and r.status_code == 200:
                items = next(iter(r.json().values()))
                return f"not empty: {items}" if items else None
            return problem

        return run

    for row in ROWS:
        key = (row.method, row.path)
        if row.kind == API:
            for name, who in outsiders.items():
                caller = Caller(name, token=who.token, admin_email=who.tenant.admin.email)
                filtered = row.query and not (row.parent_sees and who is w.parent)
                if row.parent_sees and who is w.parent and row.ok is not None:
                    # The parent reads what its sub-partner's own credential reads (its
                    # sub-partners, their audit logs): the victim's own answer.
                    yield row, caller, (lambda r, s=row.ok: status_is(r, s)), None
                else:
                    yield row, caller, empty_list(foreign(row)) if filtered else foreign(row), None
                if row.mix:
                    yield row, caller, not_found(row), dict.fromkeys(row.mix, who.customer.id)
            for name, who in (("sibling", w.sibling), ("other partner", w.other)):
                caller = Caller(
                    f"{name} acting for the victim",
                    token=who.token,
                    admin_email=who.tenant.admin.email,
                    query=victim_org,
                )
                yield row, caller, not_found(row) if key in on_behalf_routes else foreign(row), None
            unauthorized = lambda r: contract_error(r, 401, 1500)  # noqa: E731
            yield row, Caller("expired token", token=w.expired_token), unauthorized, None
            yield row, Caller("revoked token", token=w.revoked_token), unauthorized, None
            yield row, Caller("portal session, no token", session=w.session), unauthorized, None
            yield row, Caller("customer portal session", session=w.beta_admin), unauthorized, None
            if row.scope:
                yield (
                    row,
                    Caller("token without the scope", token=w.scopeless_token),
                    lambda r: contract_error(r, 403, 1300),
                    None,
                )
            if row.ok is not None:
                own = Caller("victim", token=w.token, admin_email=w.victim.admin.email)
                yield row, own, (lambda r, s=row.ok: status_is(r, s)), None
                if key in on_behalf_routes:
                    acting = Caller("parent acting for the victim", token=w.parent.token)
                    acting.query = victim_org
                    yield row, acting, (lambda r, s=row.ok: status_is(r, s)), None
        else:
            sign_in = "/login" if row.kind == PORTAL else "/signin"
            for name, who in outsiders.items():
                caller = Caller(name, session=who.session)
                yield row, caller, foreign(row), None
                if row.mix:
                    own = who.customer.id
                    yield row, caller, not_found(row), dict.fromkeys(row.mix, own)
            other_customer = Caller("another customer's administrator", session=w.beta_admin)
            if row.kind == PORTAL:
                yield row, other_customer, lambda r: login_redirect(r, "/login"), None
            else:
                yield row, other_customer, foreign(row), None
                if row.mix:
                    yield (
                        row,
                        other_customer,
                        not_found(row),
                        dict.fromkeys(row.mix, w.id("customer_b")),
                    )
            for name, session in (
                ("expired session", w.expired_session),
                ("signed-out session", w.signed_out_session),
                ("expired customer-portal session", w.expired_org_session),
                ("signed-out customer-portal session", w.signed_out_org_session),
            ):
                yield (
                    row,
                    Caller(name, session=session),
                    (lambda r, t=sign_in: login_redirect(r, t)),
                    None,
                )
            forbidden = lambda r: status_is(r, 403)  # noqa: E731
            if row.kind == PORTAL and row.write:
                yield (
                    row,
                    Caller("read-only administrator", session=w.read_only_session),
                    (forbidden),
                    None,
                )
            if row.kind == ORG and row.foreign == 404:
                yield row, Caller("user without a role", session=w.alpha_no_role), forbidden, None
                if row.manage:
                    yield (
                        row,
                        Caller("read-only customer administrator", session=(w.alpha_read_only)),
                        forbidden,
                        None,
                    )
            if row.ok is not None:
                own_session = w.session if row.kind == PORTAL else w.alpha_admin
                yield (
                    row,
                    Caller("victim", session=own_session),
                    (lambda r, s=row.ok: status_is(r, s)),
                    None,
                )
                if row.kind == ORG and row.partner_ok:
                    yield (
                        row,
                        Caller("victim's partner administrator", session=w.session),
                        (lambda r, s=row.ok: status_is(r, s)),
                        None,
                    )


# Callers who belong to the victim (they may see its data; only their status is checked).
INSIDERS = {
    "victim",
    "victim's partner administrator",
    "parent acting for the victim",
    "read-only administrator",
    "user without a role",
    "read-only customer administrator",
}


# --- the tests -----------------------------------------------------------------------------------


async def test_every_route_has_a_row(world: tuple[FastAPI, World]) -> None:
    app, _ = world
    routes = route_keys(app)
    rows = {(r.method, r.path) for r in ROWS}
    assert len(rows) == len(ROWS), "a route has two rows"
    missing = routes - rows - set(PUBLIC)
    assert not missing, f"routes without an isolation row (add one to ROWS): {sorted(missing)}"
    stale = (rows | set(PUBLIC)) - routes
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


async def test_isolation_matrix(world: tuple[FastAPI, World]) -> None:
    app, w = world
    before = await fingerprint(w.db, w.victim.partner.id)
    transport = httpx.ASGITransport(app=app)
    failures: list[str] = []
    seen: list[str] = []
    html_pages = 0
    by_row: dict[tuple[str, str], list[tuple[Caller, Check, dict[str, str] | None]]] = {}
    for row, caller, check, overrides in cells(app, w):
        by_row.setdefault((row.method, row.path), []).append((caller, check, overrides))
    rows = {(r.method, r.path): r for r in ROWS}
    count = sum(len(c) for c in by_row.values())
    # Rows one after the other (a wizard row relies on the earlier row that starts the
    # wizard); the cells of a row at once, a few at a time (well within the connection pool).
    gate = asyncio.Semaphore(6)

    async def gated(row: Row, caller: Caller, overrides: dict[str, str] | None) -> Outcome:
        async with gate:
            return await call(transport, row, w, caller, overrides)

    for key, row_cells in by_row.items():
        row = rows[key]
        outcomes = await asyncio.gather(
            *(gated(row, caller, overrides) for caller, _, overrides in row_cells)
        )
        for (caller, check, overrides), outcome in zip(row_cells, outcomes, strict=True):
            where = f"{row.method} {row.path} as {caller.name}"
            where += " (mixed ids)" if overrides else ""
            problem = check(outcome.response)
            seen.append(f"{outcome.response.status_code} {where}")
            if problem:
                failures.append(f"{where}: {problem}")
            # every page, refusals included: no framing, no inline script, no sniffing
            response = outcome.response
            if response.headers.get("content-type", "").startswith("text/html"):
                html_pages += 1
                policy = frame_and_script_policy(response)
                if policy:
                    failures.append(f"{where}: page policy: {policy}")
            if response.headers.get("x-content-type-options") != "nosniff":
                failures.append(f"{where}: no X-Content-Type-Options: nosniff")
            if caller.name not in INSIDERS and not (row.parent_sees and caller.name == "parent"):
                markers = (
                    w.markers - w.beta_markers if caller.session is w.beta_admin else w.markers
                )
                found = leaked(outcome, markers)
                if found:
                    failures.append(f"{where}: victim data in the answer: {found}")
    after = await fingerprint(w.db, w.victim.partner.id)
    report = os.environ.get("ISOLATION_MATRIX_REPORT")
    if report:  # every cell and its answer, for docs/reliability.md
        lines = [f"{count} cells, {len(failures)} failures", *failures, "", *seen]
        await asyncio.to_thread(Path(report).write_text, "\n".join(lines) + "\n")
    assert not failures, f"{len(failures)} of {count} cells failed:\n" + "\n".join(failures)
    logs = ("customer_events", "audit_events")
    changed = [t for t in before if t not in logs and before[t] != after.get(t)]
    assert not changed, f"the victim's rows changed in {changed}"
    # The only new rows: the audit trail of the victim's own administrator opening its
    # customer's pages (a positive control); nothing removed or changed.
    assert after["customer_events"] == before["customer_events"], "customer events changed"
    audited = after["audit_events"]
    added = [e for e in audited if e not in before["audit_events"]]
    assert all(e in audited for e in before["audit_events"]), "audit rows changed"
    assert all(e["actor_email"] == w.victim.admin.email for e in added), added
    assert count >= 900, count
    assert html_pages >= 250, html_pages
