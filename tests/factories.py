"""Factories: the one place tests make partners, onboarding templates, customers,
subscribers and tokens.

Two ways, named by their prefix:
* ``make_*`` write through a service or straight into the tables on a :class:`Database`
  (fast; for tests whose subject is something else): :func:`make_tenant` (a partner and its
  full administrator, through ``partners.service.create_partner``; ``Tenant.token`` and
  ``Tenant.add_admin`` through the identity service), :func:`make_template`,
  :func:`make_customer` (a provisioned customer with its HQ location, through
  ``locations.service.ensure_hq_location``), :func:`make_org` (a provisioned organization with
  one user), :func:`give_password` (an organization user's password, through
  ``identity.org_auth``);
* ``create_*`` / ``provisioned_*`` / ``add_*`` go through the HTTP API as a client would, on an
  in-process client or a live server: :func:`create_template`, :func:`provisioned_org`,
  :func:`add_user`, :func:`add_numbers`, :func:`claim_domains` (an identity provider that
  claims e-mail domains); with the wire bodies they send (:func:`customer_body`,
  :func:`meetings_body`, :func:`location`, :func:`saml_metadata`).

Fixtures stay in the ``conftest.py`` files; they call these.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from partnerhub import ids
from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from partnerhub.identity import org_auth
from partnerhub.identity import service as identity
from partnerhub.ids import new_provisioning_id
from partnerhub.locations.service import ensure_hq_location
from partnerhub.models import Customer, Location, OrgUser, Partner, PartnerAdmin, Template

TEMPLATES_WRITE = "partnerhub:templates_write"
SUB_WRITE = "spark-admin:wholesale_subscribers_write"
SUB_READ = "spark-admin:wholesale_subscribers_read"
LOC_WRITE = "partnerhub:locations_write"
LOC_READ = "partnerhub:locations_read"
NUM_WRITE = "partnerhub:numbers_write"
NUM_READ = "partnerhub:numbers_read"
ALL_WRITE = (SUB_WRITE, LOC_WRITE, NUM_WRITE)
USER_PASSWORD = "correct horse battery"

US_ADDRESS = {
    "addressLine1": "1 Market St",
    "city": "San Francisco",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "94105",
    "country": "US",
}
MILPITAS = {
    "addressLine1": "771 Alder Drive",
    "city": "Milpitas",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "95035",
    "country": "US",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- partners and their tokens -------------------------------------------------------------


@dataclass
class Tenant:
    partner: Partner
    admin: PartnerAdmin
    password: str
    db: Database

    async def add_admin(self, role: str, email: str | None = None) -> tuple[PartnerAdmin, str]:
        """Another administrator of the partner, added as its full administrator would
        (``identity.service.create_admin``)."""
        from partnerhub.identity.repository import AdminRepository

        email = (
            email
            or f"{role}-{uuid.uuid4().hex[:6]}@{self.partner.name.lower().replace(' ', '')}.example"
        )
        password = f"pw-{uuid.uuid4().hex[:10]}"
        async with self.db.transaction() as session:
            admin = await identity.create_admin(
                AdminRepository(session, identity.principal_for_admin(self.admin)),
                email,
                role,
                role,
                password,
            )
        return admin, password

    async def token(self, *scopes: str, expires_hours: float | None = 24) -> str:
        from datetime import timedelta

        async with self.db.transaction() as session:
            new = identity.create_token(
                session,
                self.partner.id,
                "test",
                list(scopes),
                timedelta(hours=expires_hours) if expires_hours else None,
            )
        return new.secret


async def make_tenant(
    db: Database,
    name: str = "Acme",
    *,
    parent: Partner | None = None,
    pstn_providers: list[str] | None = None,
    hosted_calling: bool = False,
    state: str = "active",
) -> Tenant:
    """A partner (a sub-partner of ``parent``) and its full administrator, created by the
    supported operation (``partners.service.create_partner``, what ``partnerhub partner
    create`` runs)."""
    from partnerhub.partners import service as partners

    password = f"pw-{uuid.uuid4().hex[:10]}"
    async with db.transaction() as session:
        created = await partners.create_partner(
            session,
            partners.NewPartner(
                name=name,
                admin_email=f"admin-{uuid.uuid4().hex[:6]}@{name.lower().replace(' ', '')}.example",
                admin_name=f"{name} admin",
                parent_id=parent.id if parent else None,
                subscription_id=f"sub-{uuid.uuid4().hex[:8]}",
                pstn_providers=pstn_providers if pstn_providers is not None else ["PSTN Co"],
                hosted_calling=hosted_calling,
                provisioning_state=state,
            ),
            password=password,
        )
    return Tenant(created.partner, created.admin, password, db)


# --- onboarding templates and customers, written directly ----------------------------------


@dataclass
class Setup:
    """A provisioned customer of ``tenant`` with its HQ location."""

    tenant: Tenant
    customer: Customer
    hq: Location | None

    @property
    def id(self) -> str:
        return ids.encode("CUSTOMER", self.customer.id, ids.region_of(self.customer.data_region))

    @property
    def org(self) -> str:
        assert self.customer.org_id is not None
        return ids.encode(
            "ORGANIZATION", self.customer.org_id, ids.region_of(self.customer.data_region)
        )

    @property
    def hq_id(self) -> str:
        assert self.hq is not None
        return ids.encode("LOCATION", self.hq.id, ids.region_of(self.customer.data_region))


async def make_template(db: Database, tenant: Tenant) -> Template:
    template = Template(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        provisioning_id=new_provisioning_id(),
        name=f"T-{uuid.uuid4().hex[:6]}",
        service_provider_admin_id=tenant.admin.id,
        country="US",
        default_email_language="en_US",
        wholesale_subscription_id="Sub-1",
        brand_name="Acme Cloud",
    )
    async with db.transaction() as session:
        session.add(template)
    return template


async def make_customer(
    db: Database,
    tenant: Tenant,
    *,
    packages: list[str] | None = None,
    status: str = "provisioned",
    limits: dict[str, int] | None = None,
    hq: bool = True,
    numbers: list[str] | None = None,
    main_number: str | None = None,
    external_id: str | None = None,
    admin_package: str | None = None,
    settings: dict[str, Any] | None = None,
    data_region: str = "US",
) -> Setup:
    template = await make_template(db, tenant)
    customer_id = uuid.uuid4()
    params: dict[str, Any] = {}
    if limits:
        params["packages"] = {"limits": limits}
    hq_record = None
    if hq:
        hq_record = {
            "locationId": str(uuid.uuid4()),
            "name": "Headquarters",
            "address": US_ADDRESS,
            "timezone": "America/Los_Angeles",
            "language": "en_US",
            "numbers": numbers or [],
        }
        if main_number:
            hq_record["mainNumber"] = main_number
    customer = Customer(
        id=customer_id,
        partner_id=tenant.partner.id,
        template_id=template.id,
        provisioning_id=template.provisioning_id,
        external_id=external_id or f"ext-{uuid.uuid4().hex[:8]}",
        name=f"Customer {uuid.uuid4().hex[:4]}",
        primary_email=None,
        language="en_US",
        org_id=uuid.uuid4(),
        status=status,
        data_region=data_region,
        address=US_ADDRESS,
        packages=packages or ["webex_calling", "webex_meetings", "webex_suite"],
        provisioning_parameters=params,
        settings=settings or {"email": {"brandName": "Acme Cloud"}},
        resource_details={},
        errors=[],
        hq_location=hq_record,
    )
    location = None
    async with db.transaction() as session:
        session.add(customer)
        await session.flush()
        result = await ensure_hq_location(session, customer)
        location = result.location
        if admin_package:
            session.add(
                OrgUser(
                    id=uuid.uuid4(),
                    partner_id=tenant.partner.id,
                    customer_id=customer.id,
                    org_id=customer.org_id,
                    email=f"admin-{uuid.uuid4().hex[:6]}@customer.example",
                    roles=["full_admin"],
                    package=admin_package,
                    status="provisioned",
                )
            )
    return Setup(tenant, customer, location)


async def make_org(
    db: Database,
    tenant: Tenant,
    *,
    method: str = "platform",
    idp_entity_id: str | None = None,
    oidc_idp_name: str | None = None,
    name: str = "Org",
    user_email: str | None = None,
    roles: list[str] | None = None,
) -> tuple[Customer, OrgUser]:
    """A provisioned customer organization of ``tenant`` with one user (a full administrator)."""
    template = Template(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        provisioning_id=uuid.uuid4().hex,
        name=f"{name}-{uuid.uuid4().hex[:6]}",
        service_provider_admin_id=tenant.admin.id,
        country="US",
        default_email_language="en",
        wholesale_subscription_id="sub",
        auth_method=method,
        idp_entity_id=idp_entity_id,
        oidc_idp_name=oidc_idp_name,
        brand_name="Brand",
    )
    customer = Customer(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        template_id=template.id,
        provisioning_id=template.provisioning_id,
        external_id=f"ext-{uuid.uuid4().hex[:8]}",
        name=name,
        primary_email=user_email,
        language="en",
        org_id=uuid.uuid4(),
        status="provisioned",
        data_region="US",
        address={"addressLine1": "1 Main St", "city": "Austin", "country": "US"},
        packages=["webex_meetings"],
        settings={
            "authentication": {
                "method": method,
                "idpEntityId": idp_entity_id,
                "oidcIdpName": oidc_idp_name,
            },
            "email": {"brandName": "Brand"},
        },
    )
    user = OrgUser(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        customer_id=customer.id,
        org_id=customer.org_id,
        email=user_email or f"user-{uuid.uuid4().hex[:6]}@{name.lower()}.example",
        first_name="Org",
        last_name="User",
        roles=["full_admin"] if roles is None else roles,
        package="webex_meetings",
        status="provisioned",
    )
    async with db.transaction() as session:
        session.add(template)
        await session.flush()
        session.add(customer)
        await session.flush()
        session.add(user)
    return customer, user


async def give_password(db: Database, user: OrgUser, password: str = USER_PASSWORD) -> None:
    """An organization user's password, set through ``identity.org_auth.set_password``."""
    async with db.transaction() as session:
        await org_auth.set_password(session, user, password)


# --- through the HTTP API ------------------------------------------------------------------


async def create_template(
    client: httpx.AsyncClient, tenant: Tenant, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Template {time.monotonic_ns()}",
        "offer": "wholesale",
        "serviceProviderAdminEmail": tenant.admin.email,
        "country": "IT",
        "defaultEmailLanguage": "it_IT",
        "wholesaleSubscriptionId": "Sub-1234",
        "authentication": {"method": "platform"},
        "email": {"brandName": "Acme Cloud", "allowAdminInviteOnLink": False},
    }
    body.update(overrides)
    token = await tenant.token(TEMPLATES_WRITE)
    response = await client.post("/v1/partner/templates", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def location(country: str = "US", **overrides: Any) -> dict[str, Any]:
    addresses = {
        "US": {
            "addressLine1": "771 Alder Drive",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "IT": {
            "addressLine1": "Via Roma 1",
            "city": "Milano",
            "stateOrProvince": "MI",
            "zipOrPostalCode": "20121",
            "country": "IT",
        },
    }
    body: dict[str, Any] = {
        "name": "Head Office",
        "address": dict(addresses[country]),
        "timezone": "America/Los_Angeles" if country == "US" else "Europe/Rome",
        "language": "en_US" if country == "US" else "it_IT",
    }
    body.update(overrides)
    return body


def customer_body(provisioning_id: str, n: int | str = 1, **overrides: Any) -> dict[str, Any]:
    """A valid US customer with webex_calling and webex_meetings."""
    body: dict[str, Any] = {
        "provisioningId": provisioning_id,
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": f"ext-{n}",
        "address": {
            "addressLine1": "771 Alder Drive",
            "addressLine2": "Cisco Site 5",
            "city": "Milpitas",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95035",
            "country": "US",
        },
        "customerInfo": {"name": f"John's Pizza {n}", "primaryEmail": f"john{n}@pizza.example"},
        "provisioningParameters": {"calling": {"location": location("US")}},
    }
    body.update(overrides)
    return body


def meetings_body(provisioning_id: str, n: int | str = 1, **overrides: Any) -> dict[str, Any]:
    """A valid customer without calling packages (no location needed)."""
    body = customer_body(provisioning_id, n, packages=["webex_meetings"])
    del body["provisioningParameters"]
    body.update(overrides)
    return body


async def add_numbers(
    client: httpx.AsyncClient, token: str, location_id: str, numbers: list[str]
) -> None:
    response = await client.post(
        f"/v1/telephony/config/locations/{location_id}/numbers",
        json={"phoneNumbers": numbers, "numberType": "DID", "state": "ACTIVE"},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text


def number(i: int) -> str:
    """A valid US number of the test range (+1 415 555 01xx... in San Francisco)."""
    return f"+1415555{i:04d}"


@dataclass
class Org:
    """A provisioned customer of ``tenant`` and its first (full) administrator's address."""

    tenant: Tenant
    token: str
    customer_id: str
    name: str
    admin_email: str


async def provisioned_org(
    client: httpx.AsyncClient, tenant: Tenant, name: str, admin_email: str
) -> Org:
    token = await tenant.token(*ALL_SCOPES)
    template = await client.post(
        "/v1/partner/templates",
        json={
            "name": f"{name} template {uuid.uuid4().hex[:6]}",
            "offer": "wholesale",
            "serviceProviderAdminEmail": tenant.admin.email,
            "country": "US",
            "defaultEmailLanguage": "en_US",
            "wholesaleSubscriptionId": "Sub-1",
            "authentication": {"method": "platform"},
            "email": {"brandName": f"{name} Cloud"},
        },
        headers=bearer(token),
    )
    assert template.status_code == 201, template.text
    created = await client.post(
        "/v1/wholesale/customers",
        json={
            "provisioningId": template.json()["provisioningId"],
            "packages": ["webex_meetings"],
            "externalId": f"ext-{uuid.uuid4().hex[:8]}",
            "address": MILPITAS,
            "customerInfo": {"name": name, "primaryEmail": admin_email},
        },
        headers=bearer(token),
    )
    assert created.status_code == 202, created.text
    customer_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while True:
        got = await client.get(f"/v1/wholesale/customers/{customer_id}", headers=bearer(token))
        assert got.status_code == 200, got.text
        if got.json()["status"] == "provisioned":
            break
        assert time.monotonic() < deadline, got.text
        await asyncio.sleep(0.2)
    return Org(tenant, token, customer_id, name, admin_email)


async def add_user(client: httpx.AsyncClient, org: Org, email: str) -> httpx.Response:
    return await client.post(
        "/v1/wholesale/subscribers",
        json={"customerId": org.customer_id, "email": email, "packages": ["webex_meetings"]},
        headers=bearer(org.token),
    )


def saml_metadata(entity_id: str) -> str:
    """A minimal, valid SAML IdP metadata document with a fresh signing certificate."""
    from partnerhub.sso.saml import generate_key_pair

    _key, cert_pem = generate_key_pair("Victim IdP")
    cert = "".join(line for line in cert_pem.splitlines() if "CERTIFICATE" not in line)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
        f"<ds:X509Certificate>{cert}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://idp.victim.example/sso"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


async def claim_domains(
    client: httpx.AsyncClient, tenant: Tenant, domains: list[str]
) -> dict[str, Any]:
    """Register a SAML identity provider of ``tenant`` (its metadata given inline) that claims
    ``domains``, through the hub API (``/signin`` then sends their addresses to it)."""
    response = await client.post(
        "/v1/partner/identityProviders",
        json={
            "type": "saml",
            "metadataXml": saml_metadata(f"https://idp-{uuid.uuid4().hex[:8]}.example"),
            "displayName": f"{tenant.partner.name} IdP",
            "forAdministrators": False,
            "domains": domains,
        },
        headers=bearer(await tenant.token("partnerhub:admin")),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
