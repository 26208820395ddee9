"""One populated database for the isolation matrix: a victim tenant with one resource of every
kind, and the people who must not reach them.

* **Parent Co** (a partner) with two sub-partners: **Victim Reseller** (tenant A, whose data is
  attacked) and **Sibling Reseller**; **Other Partner** is an unrelated partner.
* The victim has a template, two provisioned customers (Victimcorp Alpha with its HQ location,
  numbers, a subscriber, customer administrators, an import, an installation request and an
  outbox email; Victimcorp Beta with its own administrator), a SAML identity provider, a second
  partner administrator and a live API token.
* Credentials: a full-scope token of every other partner, the victim's expired, revoked and
  scope-less tokens, portal sessions (live, expired, signed out, read-only) and customer-portal
  sessions (the other customer's administrator, a read-only and a role-less user of Alpha).

Resources are created through the API where one exists. Sessions are opened by the functions
the sign-in forms use (``identity.start_session``, ``org_auth.open_session``; the victim's main
session goes through the login form) and tenants share one password hash: argon2 costs most of
a second per hash here, and the matrix is about who reaches what, not about signing in. An
expired credential is a database write; revocation and sign-out go through the portal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, text, update

from partnerhub import ids
from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from partnerhub.identity import org_auth
from partnerhub.identity.service import hash_password, hash_secret, start_session
from partnerhub.models import (
    ApiToken,
    OrgSession,
    OrgUser,
    OutboxEmail,
    PartnerAdmin,
    PortalSession,
)
from partnerhub.models.base import utcnow
from partnerhub.portal.session import COOKIE as PORTAL_COOKIE
from tests.conftest import bearer, csrf_of
from tests.factories import Setup, Tenant, add_numbers, make_customer, number, saml_metadata

ORG_COOKIE = org_auth.ORG_COOKIE
PASSWORD = "correct horse battery staple"
# Every scope is asked for by some endpoint now (billing reports are served): the token
# "missing the scope" for every endpoint is made with this one and then stripped of it.
UNUSED_SCOPE = "partnerhub:templates_read"


@dataclass
class Session:
    """A signed-in browser: its cookie (portal or customer portal) and the CSRF token."""

    cookie_name: str
    cookie: str
    csrf: str

    def cookies(self) -> dict[str, str]:
        return {self.cookie_name: self.cookie}


@dataclass
class Outsider:
    """Another partner's credentials: a full-scope token and a full administrator's session,
    plus a customer of its own (for paths mixing its own ids with the victim's)."""

    tenant: Tenant
    token: str
    session: Session
    customer: Setup


@dataclass
class World:
    client: httpx.AsyncClient
    db: Database
    parent: Outsider
    victim: Tenant
    sibling: Outsider
    other: Outsider
    # the victim's data
    ids: dict[str, str] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)
    beta_markers: set[str] = field(default_factory=set)  # the other customer's own data
    # the victim's credentials
    token: str = ""
    expired_token: str = ""
    revoked_token: str = ""
    scopeless_token: str = ""
    session: Session | None = None
    expired_session: Session | None = None
    signed_out_session: Session | None = None
    read_only_session: Session | None = None
    # customer-portal sessions
    alpha_admin: Session | None = None
    alpha_read_only: Session | None = None
    alpha_no_role: Session | None = None
    beta_admin: Session | None = None  # "another customer's administrator"
    expired_org_session: Session | None = None
    signed_out_org_session: Session | None = None

    def id(self, name: str) -> str:
        return self.ids[name]


_HASH: list[str] = []


def shared_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


async def new_tenant(
    db: Database, name: str, parent: Tenant | None = None, role: str = "full_admin"
) -> Tenant:
    """A partner and its full administrator (password :data:`PASSWORD`), created by the
    supported operation (``partners.service.create_partner``)."""
    from partnerhub.partners import service as partners

    slug = name.lower().replace(" ", "")
    async with db.transaction() as session:
        created = await partners.create_partner(
            session,
            partners.NewPartner(
                name=name,
                admin_email=f"admin-{uuid.uuid4().hex[:6]}@{slug}.example",
                admin_name=role,
                parent_id=parent.partner.id if parent else None,
                subscription_id=f"sub-{uuid.uuid4().hex[:8]}",
                pstn_providers=["PSTN Co"],
            ),
            password_hash=shared_hash(),
        )
    return Tenant(created.partner, created.admin, PASSWORD, db)


def _admin(partner_id: uuid.UUID, email: str, role: str) -> PartnerAdmin:
    return PartnerAdmin(
        id=uuid.uuid4(),
        partner_id=partner_id,
        email=email,
        display_name=role,
        role=role,
        password_hash=shared_hash(),
    )


async def direct_session(db: Database, admin_id: uuid.UUID) -> Session:
    async with db.transaction() as session:
        new = start_session(session, admin_id, 12, "en")
    return Session(PORTAL_COOKIE, new.cookie, new.record.csrf_token)


async def direct_org_session(db: Database, user_id: uuid.UUID) -> Session:
    async with db.transaction() as session:
        cookie = await org_auth.open_session(session, user_id, "password")
        record = await session.get(OrgSession, hash_secret(cookie))
        assert record is not None
        csrf = record.csrf_token
    return Session(ORG_COOKIE, cookie, csrf)


async def portal_session(client: httpx.AsyncClient, email: str, password: str) -> Session:
    """Sign in through the partner portal's login form (a fresh cookie jar)."""
    client.cookies.clear()
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password, "next": "/"},
    )
    assert response.status_code == 303, response.text
    cookie = client.cookies[PORTAL_COOKIE]
    page = await client.get("/settings/tokens")
    assert page.status_code == 200, page.text
    session = Session(PORTAL_COOKIE, cookie, csrf_of(page.text))
    client.cookies.clear()
    return session


async def _org_user(db: Database, setup: Setup, email: str, roles: list[str]) -> OrgUser:
    user = OrgUser(
        id=uuid.uuid4(),
        partner_id=setup.customer.partner_id,
        customer_id=setup.customer.id,
        org_id=setup.customer.org_id,
        email=email,
        first_name="Victim",
        last_name="Person",
        roles=roles,
        package="webex_meetings",
        status="provisioned",
    )
    async with db.transaction() as session:
        session.add(user)
    return user


async def _customer(db: Database, tenant: Tenant, name: str, external_id: str) -> Setup:
    setup = await make_customer(db, tenant, external_id=external_id)
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE customers SET name = :n WHERE id = :i"),
            {"n": name, "i": setup.customer.id},
        )
    setup.customer.name = name
    return setup


async def _outsider(db: Database, name: str, parent: Tenant | None) -> Outsider:
    tenant = await new_tenant(db, name, parent)
    token = await tenant.token(*ALL_SCOPES)
    session = await direct_session(db, tenant.admin.id)
    customer = await _customer(db, tenant, f"{name} Customer", f"{name.lower()}-ext")
    return Outsider(tenant, token, session, customer)


async def _api(
    client: httpx.AsyncClient, token: str, method: str, url: str, status: int, **kwargs: Any
) -> httpx.Response:
    response = await client.request(method, url, headers=bearer(token), **kwargs)
    assert response.status_code == status, f"{method} {url}: {response.status_code} {response.text}"
    return response


async def build(client: httpx.AsyncClient, db: Database) -> World:
    parent = await _outsider(db, "Parent Co", None)
    victim = await new_tenant(db, "Victim Reseller", parent.tenant)
    sibling = await _outsider(db, "Sibling Reseller", parent.tenant)
    other = await _outsider(db, "Other Partner", None)
    world = World(client, db, parent, victim, sibling, other)
    w = world.ids

    token = await victim.token(*ALL_SCOPES)
    world.token = token
    w["partner_org"] = ids.encode("ORGANIZATION", victim.partner.id, "us")

    # customers, locations, numbers
    alpha = await _customer(db, victim, "Victimcorp Alpha", "victim-alpha-ext")
    beta = await _customer(db, victim, "Victimcorp Beta", "victim-beta-ext")
    w["customer"] = alpha.id
    w["org"] = alpha.org
    w["location"] = alpha.hq_id
    w["customer_b"] = beta.id
    w["external_id"] = "victim-alpha-ext"
    await add_numbers(client, token, alpha.hq_id, [number(50), number(51)])
    w["number"] = number(51)
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE templates SET name = 'Victim Template' WHERE id = :i"),
            {"i": alpha.customer.template_id},
        )
    w["template"] = ids.encode("TEMPLATE", alpha.customer.template_id, "us")
    w["provisioning_id"] = alpha.customer.provisioning_id

    # a subscriber (through the API) and customer administrators
    created = await _api(
        client,
        token,
        "POST",
        "/v1/wholesale/subscribers",
        200,
        json={
            "customerId": alpha.id,
            "email": "subscriber@victimcorp.example",
            "packages": ["webex_calling"],
            "provisioningParameters": {
                "firstName": "Vera",
                "lastName": "Victim",
                "primaryPhoneNumber": number(50),
                "extension": "5221",
            },
        },
    )
    w["subscriber"] = created.json()["id"]
    w["person"] = created.json()["personId"]
    admin = await _org_user(db, alpha, "admin@victimcorp.example", ["full_admin"])
    reader = await _org_user(db, alpha, "reader@victimcorp.example", ["read_only_admin"])
    plain = await _org_user(db, alpha, "plain@victimcorp.example", [])
    w["org_user"] = ids.encode("PEOPLE", reader.id, "us")
    w["org_admin"] = ids.encode("PEOPLE", admin.id, "us")
    beta_admin = await _org_user(db, beta, "admin@victimcorp-beta.example", ["full_admin"])

    # an import (run to its end, so that its result exists)
    imported = await _api(
        client,
        token,
        "POST",
        f"/v1/partner/customers/{alpha.id}/imports",
        202,
        json={"csv": "email,package\nimported@victimcorp.example,webex_meetings\n"},
    )
    w["import"] = imported.json()["id"]
    from partnerhub.subscribers import tasks as subscriber_tasks

    await subscriber_tasks.run_import(import_id=str(ids.decode("IMPORT", w["import"])))
    result_url = f"/v1/partner/customers/{alpha.id}/imports/{w['import']}/result"
    await _api(client, token, "GET", result_url, 200)

    # partner settings with a support address: an installation request then queues an email
    await _api(
        client,
        token,
        "PUT",
        "/v1/partner/settings",
        200,
        json={
            "name": "Victim Reseller",
            "pstnProviders": ["PSTN Co"],
            "supportEmail": "support@victimreseller.example",
        },
    )
    request = await _api(
        client,
        token,
        "POST",
        f"/v1/partner/customers/{alpha.id}/installationRequests",
        201,
        json={
            "contactName": "Victoria Contact",
            "contactEmail": "contact@victimcorp.example",
            "phone": "+14155550199",
            "sites": "Victim site",
        },
    )
    w["installation_request"] = request.json()["id"]
    async with db.transaction() as session:
        mail = (
            await session.execute(
                select(OutboxEmail).where(OutboxEmail.partner_id == victim.partner.id).limit(1)
            )
        ).scalar_one()
    w["email"] = str(mail.id)
    w["email_subject"] = mail.subject

    # partner administration: another administrator, an identity provider, a live token
    extra = await _api(
        client,
        token,
        "POST",
        "/v1/partner/administrators",
        201,
        json={
            "email": "second-admin@victimreseller.example",
            "displayName": "Victim Second Admin",
            "role": "admin",
            "password": PASSWORD,
        },
    )
    w["admin"] = extra.json()["id"]
    w["admin_uuid"] = str(
        await _scalar(
            db, "SELECT id FROM partner_admins WHERE email = 'second-admin@victimreseller.example'"
        )
    )
    provider = await _api(
        client,
        token,
        "POST",
        "/v1/partner/identityProviders",
        201,
        json={
            "type": "saml",
            "metadataXml": saml_metadata("https://idp.victim.example/metadata"),
            "displayName": "Victim IdP",
        },
    )
    w["idp"] = provider.json()["id"]
    # a sub-partner of the victim's own, with its first administrator (through the API)
    sub = await _api(
        client,
        token,
        "POST",
        "/v1/wholesale/subPartners",
        201,
        json={
            "name": "Victim Sub Reseller",
            "administrator": {"email": "boss@victimsub.example", "displayName": "Victim Sub Boss"},
        },
    )
    w["sub_org"] = sub.json()["orgId"]
    report = await _api(
        client,
        token,
        "POST",
        "/v1/wholesale/billing/reports",
        200,
        json={"billingStartDate": "2026-02-01", "billingEndDate": "2026-02-28", "type": "USER"},
    )
    w["billing_report"] = report.json()["id"]
    hook = await _api(
        client,
        token,
        "POST",
        "/v1/webhooks",
        200,
        json={
            "name": "Victim hook",
            "targetUrl": "https://hooks.victim.example/in",
            "resource": "wholesaleCustomers",
            "event": "all",
            "filter": f"customerId={w['customer']}",
            "secret": "victim-webhook-secret",
        },
    )
    w["webhook"] = hook.json()["id"]
    w["customer_filter"] = f"customerId={w['customer']}"
    sub_admins = await _api(
        client, token, "GET", f"/v1/wholesale/subPartners/{w['sub_org']}/administrators", 200
    )
    w["sub_admin"] = sub_admins.json()["items"][0]["id"]
    w["sub_admin_uuid"] = str(ids.decode("PEOPLE", w["sub_admin"]))
    live = await victim.token("partnerhub:templates_read")
    w["token_uuid"] = str(
        await _scalar(db, "SELECT id FROM api_tokens WHERE token_hash = :h", h=hash_secret(live))
    )

    # the victim's other credentials
    world.scopeless_token = await victim.token(UNUSED_SCOPE)
    async with db.transaction() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_secret(world.scopeless_token))
            .values(scopes=[])
        )
    world.expired_token = await victim.token(*ALL_SCOPES)
    world.revoked_token = await victim.token(*ALL_SCOPES)
    async with db.transaction() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_secret(world.expired_token))
            .values(expires=utcnow() - timedelta(minutes=1))
        )
    world.session = await portal_session(client, victim.admin.email, victim.password)
    revoked_id = await _scalar(
        db, "SELECT id FROM api_tokens WHERE token_hash = :h", h=hash_secret(world.revoked_token)
    )
    client.cookies.set(PORTAL_COOKIE, world.session.cookie)
    revoked = await client.post(
        f"/settings/tokens/{revoked_id}/revoke", data={"csrf_token": world.session.csrf}
    )
    client.cookies.clear()
    assert revoked.status_code == 303, revoked.text
    reader_admin = _admin(victim.partner.id, "reader@victimreseller.example", "read_only")
    async with db.transaction() as session:
        session.add(reader_admin)
    world.read_only_session = await direct_session(db, reader_admin.id)
    world.expired_session = await direct_session(db, victim.admin.id)
    async with db.transaction() as session:
        await session.execute(
            update(PortalSession)
            .where(PortalSession.token_hash == hash_secret(world.expired_session.cookie))
            .values(expires=utcnow() - timedelta(minutes=1))
        )
    world.signed_out_session = await direct_session(db, victim.admin.id)
    client.cookies.set(PORTAL_COOKIE, world.signed_out_session.cookie)
    out = await client.post("/logout", data={"csrf_token": world.signed_out_session.csrf})
    client.cookies.clear()
    assert out.status_code == 303

    world.alpha_admin = await direct_org_session(db, admin.id)
    world.alpha_read_only = await direct_org_session(db, reader.id)
    world.alpha_no_role = await direct_org_session(db, plain.id)
    world.beta_admin = await direct_org_session(db, beta_admin.id)
    world.expired_org_session = await direct_org_session(db, admin.id)
    async with db.transaction() as session:
        await session.execute(
            update(OrgSession)
            .where(OrgSession.token_hash == hash_secret(world.expired_org_session.cookie))
            .values(expires=utcnow() - timedelta(minutes=1))
        )
    world.signed_out_org_session = await direct_org_session(db, admin.id)
    client.cookies.set(ORG_COOKIE, world.signed_out_org_session.cookie)
    out = await client.post("/org/logout", data={"csrf_token": world.signed_out_org_session.csrf})
    client.cookies.clear()
    assert out.status_code == 303, out.text

    world.markers = {
        victim.partner.name,
        victim.admin.email,
        "second-admin@victimreseller.example",
        "reader@victimreseller.example",
        "support@victimreseller.example",
        "Victim Second Admin",
        "Victimcorp Alpha",
        "Victimcorp Beta",
        "victim-alpha-ext",
        "victim-beta-ext",
        "Victim Template",
        "Victim IdP",
        "https://idp.victim.example/metadata",
        "Victim Sub Reseller",
        "boss@victimsub.example",
        "Victim Sub Boss",
        "Victoria Contact",
        "contact@victimcorp.example",
        "subscriber@victimcorp.example",
        "admin@victimcorp.example",
        "reader@victimcorp.example",
        "plain@victimcorp.example",
        "imported@victimcorp.example",
        "admin@victimcorp-beta.example",
        number(50),
        number(51),
        w["email_subject"],
        *(
            w[k]
            for k in (
                "partner_org",
                "customer",
                "org",
                "location",
                "customer_b",
                "template",
                "provisioning_id",
                "subscriber",
                "person",
                "import",
                "installation_request",
                "admin",
                "idp",
                "org_user",
                "org_admin",
                "sub_org",
                "sub_admin",
            )
        ),
    }
    world.beta_markers = {
        "Victimcorp Beta",
        "victim-beta-ext",
        "admin@victimcorp-beta.example",
        w["customer_b"],
    }
    return world


async def _scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.transaction() as session:
        return (await session.execute(text(sql), params)).scalar_one()


# Tables whose rows belong to a partner (``partner_id``) and hold no per-request bookkeeping:
# the victim's rows in them must be identical before and after the matrix.
VOLATILE_COLUMNS = {"last_used", "last_login"}


async def fingerprint(db: Database, partner_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """The victim's rows, table by table (volatile bookkeeping columns left out)."""
    async with db.transaction() as session:
        tables = [
            r[0]
            for r in await session.execute(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'partner_id' "
                    "AND table_name NOT IN ('rate_counters', 'idempotency_keys') "
                    "ORDER BY table_name"
                )
            )
        ]
        out: dict[str, list[dict[str, Any]]] = {}
        for table in [*tables, "partners", "org_credentials"]:
            where = "partner_id = :p"
            if table == "partners":  # the victim and its own sub-partners
                where = "id = :p OR parent_id = :p"
            elif table == "partner_admins":  # the victim's and its sub-partners' administrators
                children = "SELECT id FROM partners WHERE parent_id = :p"
                where = f"partner_id = :p OR partner_id IN ({children})"
            elif table == "org_credentials":
                where = "org_user_id IN (SELECT id FROM org_users WHERE partner_id = :p)"
            # table names come from the catalog above, never from input
            sql = f'SELECT row_to_json(t)::jsonb FROM "{table}" t WHERE {where}'
            rows = await session.execute(text(sql), {"p": partner_id})
            out[table] = sorted(
                ({k: v for k, v in r[0].items() if k not in VOLATILE_COLUMNS} for r in rows),
                key=str,
            )
        return out
