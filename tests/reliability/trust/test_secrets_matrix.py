# ruff: noqa: E501  (the tables keep one row per line)
"""The secrets matrix (issue 10): every secret the hub hands out, who may read it and where;
every page and API answer a person can read, walked as every kind of person, on a real server.

* :data:`SECRETS`: each kind of live secret, what carries it to its owner, and the only answers
  that may show it (to whom). Everything else must never show it to anyone.
* :data:`EMAILS`: every kind of email and the secret it carries; a secret reaches only the
  email's recipient (checked on what the SMTP server received).
* :data:`PAGES`: every ``GET`` route of the app (pages and API), how to fill it with the victim's
  ids. :func:`test_every_page_and_email_kind_has_a_row` fails when a route or an email kind is
  added without a row, like the isolation matrix does for routes.
* :data:`ACTORS`: each partner role of the victim partner (``catalog/roles.py``), its sub-partner,
  another partner, each customer role of the victim's customer (``catalog/customer_roles.py``), a
  user without a role, and an anonymous visitor.

:func:`test_secrets_matrix` makes every secret live (a customer whose administrator has not yet
set a password, a pending reset, a pending consent move requested by the other partner, an
invitation sent from the customer portal, an API token just created, a TOTP enrollment begun),
then calls every row as every actor and fails on any secret in an answer the table does not
allow. An OIDC client secret is not walked here: registering a provider fetches its discovery
document, which the trust server's private-address guard refuses on 127.0.0.1; it is stored
encrypted and answered only as ``clientSecretSet`` (``tests/sso``, and the secrets-in-logs walk in
``tests/reliability/isolation``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from partnerhub import ids
from partnerhub.app import create_app
from partnerhub.catalog.customer_roles import CUSTOMER_ROLES
from partnerhub.catalog.roles import PARTNER_ROLES
from partnerhub.config import Settings
from partnerhub.notifications.service import TEMPLATE_DIR
from tests.conftest import bearer, csrf_of
from tests.factories import add_user, provisioned_org
from tests.reliability.isolation.test_isolation_matrix import route_keys
from tests.reliability.isolation.world import saml_metadata
from tests.reliability.trust.conftest import World
from tests.reliability.trust.orgs import (
    ORG_PASSWORD,
    give_password,
    html_of,
    link_path,
    mail_to,
    org_sign_in,
    text_of,
    use_password_link,
)
from tests.reliability.trust.test_secrets_outbox import OUTBOX_ID


@dataclass(frozen=True)
class Secret:
    carried_by: str
    owner: str
    # (method, path) -> the actors that answer may show the secret to (its owner, once)
    shown: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)


SECRETS: dict[str, Secret] = {
    "invitation link": Secret("the admin_invite email", "the customer's first administrator"),
    "user invitation link": Secret("the user_invitation email", "the invited user"),
    "reset link": Secret("the password_reset email", "the user who owns the address"),
    "consent link": Secret("the subscriber_consent email", "the user whose account would move"),
    "partner admin link": Secret(
        "the partner_admin_invitation email", "a sub-partner's new administrator"
    ),
    "API token": Secret(
        "the answer to its creation",
        "the administrator who created it",
        {("POST", "/settings/tokens"): frozenset({"partner full_admin"})},
    ),
    "TOTP secret": Secret(
        "the answer to step=begin",
        "the user enrolling",
        {("POST", "/org/{customer_ref}/account/totp"): frozenset({"customer full_admin"})},
    ),
}

# Every kind of email (notifications/templates/<kind>) and the secret it carries.
EMAILS: dict[str, str | None] = {
    "admin_invite": "invitation link",  # the sign-in page instead, under single sign-on
    "user_invitation": "user invitation link",
    "password_reset": "reset link",
    "subscriber_consent": "consent link",
    "installation_request": None,
    "user_moved_away": None,
    "partner_admin_invitation": "partner admin link",
    "webhook_deactivated": None,
}


@dataclass(frozen=True)
class Page:
    """A readable route: its path parameters and query, from the world's values."""

    fill: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    shows: str = ""  # what it shows that touches a secret (documentation)


C = {"customer_id": "customer"}
R = {"customer_ref": "customer"}
PAGES: dict[tuple[str, str], Page] = {
    # --- public pages ---------------------------------------------------------------------
    ("GET", "/login"): Page(),
    ("GET", "/signin"): Page(),
    ("GET", "/signin/done"): Page(),
    ("GET", "/signin/forgot"): Page(),
    ("GET", "/signin/totp"): Page(),
    ("GET", "/account/set-password/{token}"): Page({"token": "invitation token"}, shows="the form the invitation link opens"),
    ("GET", "/account/reset-password/{token}"): Page({"token": "reset token"}, shows="the form the reset link opens"),
    ("GET", "/consent/{token}"): Page({"token": "consent token"}, shows="the move, to the signed-in owner only"),
    ("GET", "/account/admin-password/{token}"): Page({"token": "partner admin token"}, shows="the form the partner administrator's link opens"),
    ("GET", "/sso/saml/{partner_ref}/metadata"): Page({"partner_ref": "partner_ref"}),
    ("GET", "/sso/saml/{partner_ref}/login"): Page({"partner_ref": "partner_ref"}),
    ("GET", "/sso/oidc/{partner_ref}/login"): Page({"partner_ref": "partner_ref"}),
    ("GET", "/sso/oidc/{partner_ref}/callback"): Page({"partner_ref": "partner_ref"}),
    ("GET", "/healthz"): Page(),
    ("GET", "/readyz"): Page(),
    ("GET", "/docs"): Page(),
    ("GET", "/docs/oauth2-redirect"): Page(),
    ("GET", "/openapi.json"): Page(),
    # --- partner portal -------------------------------------------------------------------
    ("GET", "/"): Page(),
    ("GET", "/settings/administrators"): Page(),
    ("GET", "/settings/partner"): Page(),
    ("GET", "/billing"): Page(),
    ("GET", "/billing/reports"): Page(),
    ("GET", "/billing/{report_ref}/download"): Page({"report_ref": "billing_report"}),
    ("GET", "/settings/tokens"): Page(shows="tokens by name (the secret only in the creation answer)"),
    ("GET", "/settings/identity-providers"): Page(shows="identity providers (never a client secret)"),
    ("GET", "/customers"): Page(),
    ("GET", "/sub-partners"): Page(),
    ("GET", "/sub-partners/{sub_ref}"): Page({"sub_ref": "sub"}, shows="the sub-partner's administrators (never their link)"),
    ("GET", "/sub-partners/{sub_ref}/{action}"): Page({"sub_ref": "sub", "action": "=suspend"}),
    ("GET", "/customers/new"): Page(),
    ("GET", "/customers/outbox"): Page(shows="emails: to, subject, state"),
    ("GET", "/customers/outbox/{email_id}"): Page({"email_id": "*emails"}, shows="an email's text, links hidden"),
    ("GET", "/customers/templates"): Page(),
    ("GET", "/customers/templates/new"): Page(),
    ("GET", "/customers/templates/wizard/{step}"): Page({"step": "=offer"}),
    ("GET", "/customers/templates/{template_id}"): Page({"template_id": "template"}),
    ("GET", "/customers/templates/{template_id}/edit"): Page({"template_id": "template"}),
    ("GET", "/customers/wizard/{step}"): Page({"step": "=customer"}),
    ("GET", "/customers/{customer_id}"): Page(C, shows="the customer's emails (subjects) and history"),
    ("GET", "/customers/{customer_id}/delete"): Page(C),
    ("GET", "/customers/{customer_id}/setup"): Page(C),
    ("GET", "/customers/{customer_id}/locations/new"): Page(C),
    ("GET", "/customers/{customer_id}/locations/{location_ref}/edit"): Page({**C, "location_ref": "location"}),
    ("GET", "/customers/{customer_id}/locations/{location_ref}/delete"): Page({**C, "location_ref": "location"}),
    ("GET", "/customers/{customer_id}/setup/users"): Page(C),
    ("GET", "/customers/{customer_id}/status"): Page(C),
    ("GET", "/customers/{customer_id}/setup/imports/{import_id}"): Page({**C, "import_id": "import"}),
    ("GET", "/customers/{customer_id}/setup/imports/{import_id}/progress"): Page({**C, "import_id": "import"}),
    ("GET", "/customers/{customer_id}/setup/imports/{import_id}/result"): Page({**C, "import_id": "import"}),
    # --- customer portal ------------------------------------------------------------------
    ("GET", "/org"): Page(),
    ("GET", "/org/{customer_ref}"): Page(R),
    ("GET", "/org/{customer_ref}/users"): Page(R),
    ("GET", "/org/{customer_ref}/administrators"): Page(R),
    ("GET", "/org/{customer_ref}/locations"): Page(R),
    ("GET", "/org/{customer_ref}/numbers"): Page(R),
    ("GET", "/org/{customer_ref}/emails"): Page(R, shows="the organization's emails: to, subject, state"),
    ("GET", "/org/{customer_ref}/account"): Page(R, shows="the person's own second factor (on or off)"),
    ("GET", "/org/{customer_ref}/audit"): Page(R, shows="the organization's audit log: who did what; a secret shown is named, never its value"),
    ("GET", "/org/{customer_ref}/users/add-wholesale"): Page(R),
    ("GET", "/org/{customer_ref}/users/{user_ref}/package"): Page({**R, "user_ref": "mover"}),
    # --- API --------------------------------------------------------------------------------
    ("GET", "/v1/partner/templates"): Page(),
    ("GET", "/v1/partner/templates/{template_id}"): Page({"template_id": "template"}),
    ("GET", "/v1/partner/administrators"): Page(),
    ("GET", "/v1/partner/settings"): Page(),
    ("GET", "/v1/adminAudit/events"): Page(query={"orgId": "partner_org", "from": "audit from", "to": "audit to"}, shows="audit rows: a token's creation, never its secret"),
    ("GET", "/v1/adminAudit/eventCategories"): Page(),
    ("GET", "/audit"): Page(shows="the partner's audit log: a token's creation or a changed password, never the secret"),
    ("GET", "/v1/partner/identityProviders"): Page(shows="identity providers (clientSecretSet only)"),
    ("GET", "/v1/partner/identityProviders/{provider_id}"): Page({"provider_id": "idp"}),
    ("GET", "/v1/partner/customerRoles"): Page(),
    ("GET", "/v1/partner/customers/{customer_id}/administrators"): Page(C),
    ("GET", "/v1/partner/customers/{customer_id}/administrators/{person_id}"): Page({**C, "person_id": "boss"}),
    ("GET", "/v1/partner/customers/{customer_id}/imports"): Page(C),
    ("GET", "/v1/partner/customers/{customer_id}/imports/{import_id}"): Page({**C, "import_id": "import"}),
    ("GET", "/v1/partner/customers/{customer_id}/imports/{import_id}/result"): Page({**C, "import_id": "import"}),
    ("GET", "/v1/partner/customers/{customer_id}/installationRequests"): Page(C),
    ("GET", "/v1/wholesale/billing/reports"): Page(),
    ("GET", "/webhooks"): Page(),
    ("GET", "/webhooks/{webhook_ref}"): Page({"webhook_ref": "webhook"}),
    ("GET", "/v1/webhooks"): Page(shows="each webhook's secret (set by the partner), to callers who may manage it"),
    ("GET", "/v1/webhooks/{webhook_id}"): Page({"webhook_id": "webhook"}, shows="the webhook's secret, to callers who may manage it"),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Page({"webhook_id": "webhook"}),
    ("GET", "/v1/events"): Page(shows="the partner's events (data as the GETs show it)"),
    ("GET", "/v1/wholesale/billing/reports/{report_id}"): Page({"report_id": "billing_report"}, shows="tempDownloadURL, to readers of billing reports"),
    ("GET", "/v1/wholesale/billing/reports/{report_id}/download"): Page({"report_id": "billing_report"}),
    ("GET", "/v1/wholesale/subPartners"): Page(),
    ("GET", "/v1/wholesale/subPartners/{org_id}"): Page({"org_id": "sub"}),
    ("GET", "/v1/wholesale/subPartners/{org_id}/administrators"): Page({"org_id": "sub"}),
    ("GET", "/v1/wholesale/customers"): Page(),
    ("GET", "/v1/wholesale/customers/{customer_id}"): Page(C),
    ("GET", "/v1/wholesale/subscribers"): Page(query={"customerId": "customer"}),
    ("GET", "/v1/wholesale/subscribers/{subscriber_id}"): Page({"subscriber_id": "mover"}),
    ("GET", "/v1/locations"): Page(query={"orgId": "org"}),
    ("GET", "/v1/locations/{location_id}"): Page({"location_id": "location"}),
    ("GET", "/v1/telephony/config/numbers"): Page(query={"orgId": "org"}),
}  # fmt: skip

PARTNER_ACTORS = [f"partner {role}" for role in PARTNER_ROLES]
CUSTOMER_ACTORS = [f"customer {role}" for role in CUSTOMER_ROLES]
ACTORS = [
    *PARTNER_ACTORS,
    "sub-partner full_admin",
    "other partner full_admin",
    *CUSTOMER_ACTORS,
    "customer user (no role)",
    "anonymous",
]


@dataclass
class Actor:
    name: str
    client: httpx.AsyncClient
    token: str | None = None


# --- completeness --------------------------------------------------------------------------


def test_every_page_and_email_kind_has_a_row(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), database_url="postgresql://unused@127.0.0.1:1/x")
    readable = {key for key in route_keys(app) if key[0] == "GET"}
    missing = readable - set(PAGES)
    assert not missing, f"readable routes without a row in PAGES: {sorted(missing)}"
    stale = set(PAGES) - readable
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"
    kinds = {p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir()}
    assert kinds == set(EMAILS), f"email kinds without a row / stale rows: {kinds ^ set(EMAILS)}"
    assert {s for s in EMAILS.values() if s} <= set(SECRETS)
    for secret in SECRETS.values():
        for key in secret.shown:
            assert key in route_keys(app), key
            assert secret.shown[key] <= set(ACTORS)


# --- the world's secrets ----------------------------------------------------------------------


@pytest.fixture
async def actors(world: World) -> AsyncIterator[dict[str, Actor]]:
    """The partner people, signed in (the test adds the customer's people and the anonymous
    visitor; every client is closed at the end)."""
    out: dict[str, Actor] = {}
    people = [("partner full_admin", world.a, world.a.admin.email, world.a.password, "full_admin")]
    for role in PARTNER_ROLES:
        if role != "full_admin":
            admin, password = await world.a.add_admin(role)
            people.append((f"partner {role}", world.a, admin.email, password, role))
    people.append(
        (
            "sub-partner full_admin",
            world.sub,
            world.sub.admin.email,
            world.sub.password,
            "full_admin",
        )
    )
    people.append(
        ("other partner full_admin", world.b, world.b.admin.email, world.b.password, "full_admin")
    )
    try:
        for name, tenant, email, password, role in people:
            client, _ = await world.signed_in(email, password)
            token = await tenant.token(*sorted(PARTNER_ROLES[role].scopes))
            out[name] = Actor(name, client, token)
        yield out
    finally:
        for actor in out.values():
            await actor.client.aclose()


async def test_secrets_matrix(world: World, actors: dict[str, Actor]) -> None:
    secrets: dict[str, str] = {}
    values: dict[str, str] = {}
    many: dict[str, list[str]] = {}  # a "*name" fill: the row is walked once per value
    recipients: dict[str, str] = {}
    client = world.client()
    try:
        victim = await provisioned_org(client, world.a, "Victimcorp", "boss@victimcorp.example")
        invite = link_path(await mail_to(world.mailbox, victim.admin_email, "set-password"))
        await use_password_link(client, invite, ORG_PASSWORD)
        # a second customer whose administrator has not set a password yet: a live invitation
        fresh = await provisioned_org(client, world.a, "Freshcorp", "fresh@freshcorp.example")
        live = link_path(await mail_to(world.mailbox, fresh.admin_email, "set-password"))
        secrets["invitation link"] = live.rsplit("/", 1)[1]
        recipients["invitation link"] = fresh.admin_email
        values["invitation token"] = secrets["invitation link"]
        # customer users, one per role, and one without a role (the one the other partner wants)
        org_clients: dict[str, httpx.AsyncClient] = {}
        user_ids: dict[str, str] = {}
        for name in [*CUSTOMER_ROLES, "none"]:
            email = victim.admin_email if name == "full_admin" else f"{name}@victimcorp.example"
            if name != "full_admin":
                created = await add_user(client, victim, email)
                assert created.status_code in (200, 201), created.text
                user_ids[name] = created.json()["id"]
                await give_password(client, world.mailbox, email)
                if name != "none":
                    roles = await client.put(
                        f"/v1/partner/customers/{victim.customer_id}/administrators/{user_ids[name]}/roles",
                        json={"roles": [name]},
                        headers=bearer(victim.token),
                    )
                    assert roles.status_code == 200, roles.text
            org_client = world.client()
            await org_sign_in(org_client, email)
            org_clients[name] = org_client
        for name, org_client in org_clients.items():
            label = "customer user (no role)" if name == "none" else f"customer {name}"
            actors[label] = Actor(label, org_client)
        actors["anonymous"] = Actor("anonymous", world.client())
        assert set(actors) == set(ACTORS)

        # a pending reset of the customer's full administrator (asked for by anybody)
        since = len(world.mailbox.messages)
        page = await client.get("/signin/forgot")
        await client.post(
            "/signin/forgot", data={"csrf_token": csrf_of(page.text), "email": victim.admin_email}
        )
        reset = link_path(await mail_to(world.mailbox, victim.admin_email, "reset-password", since))
        secrets["reset link"] = values["reset token"] = reset.rsplit("/", 1)[1]
        recipients["reset link"] = victim.admin_email
        # an invitation sent from the customer portal by its full administrator
        boss = actors["customer full_admin"].client
        users_page = await boss.get(f"/org/{victim.customer_id}/users")
        since = len(world.mailbox.messages)
        invited = await boss.post(
            f"/org/{victim.customer_id}/users",
            data={
                "csrf_token": csrf_of(users_page.text),
                "email": "invited@victimcorp.example",
                "package": "webex_meetings",
            },
        )
        assert invited.status_code in (200, 303), invited.text
        user_invite = link_path(
            await mail_to(world.mailbox, "invited@victimcorp.example", "set-password", since)
        )
        secrets["user invitation link"] = user_invite.rsplit("/", 1)[1]
        recipients["user invitation link"] = "invited@victimcorp.example"
        # the other partner asks to move the user without a role
        attacker = await provisioned_org(client, world.b, "Attackcorp", "evil@attackcorp.example")
        pending = await add_user(client, attacker, "none@victimcorp.example")
        assert pending.status_code == 202, pending.text
        since = len(world.mailbox.messages)
        sent = await client.post(
            f"/v1/wholesale/subscribers/{pending.json()['id']}/emails/consentMove",
            headers=bearer(attacker.token),
        )
        assert sent.status_code == 204
        consent = link_path(
            await mail_to(world.mailbox, "none@victimcorp.example", "/consent/", since)
        )
        secrets["consent link"] = values["consent token"] = consent.rsplit("/", 1)[1]
        recipients["consent link"] = "none@victimcorp.example"
        # an API token, created in the portal: shown once, to its creator
        full = actors["partner full_admin"].client
        tokens_page = await full.get("/settings/tokens")
        created_token = await full.post(
            "/settings/tokens",
            data={
                "csrf_token": csrf_of(tokens_page.text),
                "name": "matrix",
                "scopes": "partnerhub:templates_read",
                "expires": "1d",
            },
        )
        found = re.search(r'id="new-token">([^<]+)<', created_token.text)
        assert found, created_token.text[:2000]
        secrets["API token"] = found.group(1)
        # a second factor being enrolled: its secret is shown once, to the user enrolling
        account = await boss.get(f"/org/{victim.customer_id}/account")
        begun = await boss.post(
            f"/org/{victim.customer_id}/account/totp",
            data={"csrf_token": csrf_of(account.text), "step": "begin"},
        )
        found = re.search(r'id="totp-secret">([A-Z2-7]+)<', begun.text)
        assert found, begun.text[:2000]
        secrets["TOTP secret"] = found.group(1)
        # the victim partner adds an administrator to its sub-partner: the link goes to them
        values["sub"] = ids.encode("ORGANIZATION", world.sub.partner.id, ids.HUB)
        since = len(world.mailbox.messages)
        added = await client.post(
            f"/v1/wholesale/subPartners/{values['sub']}/administrators",
            json={"email": "newadmin@reseller.example", "role": "full_admin"},
            headers=bearer(actors["partner full_admin"].token or ""),
        )
        assert added.status_code == 201, added.text
        admin_link = link_path(
            await mail_to(world.mailbox, "newadmin@reseller.example", "admin-password", since)
        )
        secrets["partner admin link"] = values["partner admin token"] = admin_link.rsplit("/", 1)[1]
        recipients["partner admin link"] = "newadmin@reseller.example"
        assert set(secrets) == set(SECRETS)

        # the ids the rows are filled with
        values["customer"] = victim.customer_id
        values["partner_org"] = ids.encode("ORGANIZATION", world.a.partner.id, ids.HUB)
        now = datetime.now(UTC)
        values["audit from"] = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
        values["audit to"] = (now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        values["mover"] = user_ids["none"]
        values["boss"] = (
            await client.get(
                f"/v1/partner/customers/{victim.customer_id}/administrators",
                headers=bearer(victim.token),
            )
        ).json()["items"][0]["personId"]
        values["template"] = (
            await client.get("/v1/partner/templates", headers=bearer(victim.token))
        ).json()["items"][0]["id"]
        customer = (
            await client.get(
                f"/v1/wholesale/customers/{victim.customer_id}", headers=bearer(victim.token)
            )
        ).json()
        values["org"] = str(customer.get("orgId") or "none")
        report = await client.post(
            "/v1/wholesale/billing/reports",
            json={"billingStartDate": "2026-02-01", "billingEndDate": "2026-02-28"},
            headers=bearer(victim.token),
        )
        assert report.status_code == 200, report.text
        values["billing_report"] = report.json()["id"]
        hook = await client.post(
            "/v1/webhooks",
            json={
                "name": "Victim hook",
                "targetUrl": "https://hooks.victim.example/in",
                "resource": "wholesaleCustomers",
                "event": "all",
            },
            headers=bearer(victim.token),
        )
        assert hook.status_code == 200, hook.text
        values["webhook"] = hook.json()["id"]
        locations = (
            await client.get(
                "/v1/locations", params={"orgId": values["org"]}, headers=bearer(victim.token)
            )
        ).json()
        values["location"] = (locations.get("items") or [{"id": "none"}])[0]["id"]
        values["partner_ref"] = ids.encode("PARTNER", world.a.partner.id, ids.HUB)
        idp = await client.post(
            "/v1/partner/identityProviders",
            json={
                "type": "saml",
                "displayName": "Victim IdP",
                "metadataXml": saml_metadata("https://idp.victim.example"),
            },
            headers=bearer(victim.token),
        )
        assert idp.status_code == 201, idp.text
        values["idp"] = idp.json()["id"]
        imported = await client.post(
            f"/v1/partner/customers/{victim.customer_id}/imports",
            json={"csv": "email,package\nimported@victimcorp.example,webex_meetings\n"},
            headers=bearer(victim.token),
        )
        assert imported.status_code in (200, 201, 202), imported.text
        values["import"] = imported.json()["id"]
        # every email of the victim partner, and of the other partner (its consent email)
        emails = OUTBOX_ID.findall((await full.get("/customers/outbox")).text)
        other = actors["other partner full_admin"].client
        emails += OUTBOX_ID.findall((await other.get("/customers/outbox")).text)
        assert len(emails) >= 8, emails
        many["emails"] = emails
    finally:
        await client.aclose()

    # --- the walk ---------------------------------------------------------------------------
    failures: list[str] = []
    reached: dict[str, int] = {}
    gate = asyncio.Semaphore(4)

    def urls(key: tuple[str, str], page: Page) -> list[tuple[str, dict[str, str]]]:
        out: list[dict[str, str]] = [{}]
        for name, ref in page.fill.items():
            if ref.startswith("*"):
                out = [{**o, name: value} for o in out for value in many[ref[1:]]]
            else:
                value = ref[1:] if ref.startswith("=") else values[ref]
                out = [{**o, name: value} for o in out]
        query = {k: values[v] for k, v in page.query.items()}
        return [(key[1].format(**params), query) for params in out]

    async def one(key: tuple[str, str], url: str, query: dict[str, str], actor: Actor) -> None:
        headers = bearer(actor.token) if actor.token and url.startswith("/v1/") else {}
        async with gate:
            response = await actor.client.get(url, params=query, headers=headers)
        if response.status_code == 200:
            reached[actor.name] = reached.get(actor.name, 0) + 1
        answer = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        sent = url + str(query)
        for name, value in secrets.items():
            if (
                value in answer
                and value not in sent
                and actor.name not in SECRETS[name].shown.get(key, frozenset())
            ):
                failures.append(f"GET {url} as {actor.name}: shows the {name}")

    await asyncio.gather(
        *(
            one(key, url, query, actor)
            for key, page in PAGES.items()
            for url, query in urls(key, page)
            for actor in actors.values()
        )
    )

    # the answers that show a secret showed it to its owner only (checked above: the creation
    # answers are the only ones), and the pages everyone reads were reached
    assert not failures, "\n".join(failures)
    for name in ACTORS:
        if name != "anonymous":
            assert reached.get(name, 0) >= 5, (name, reached)

    # --- the emails: each secret went to its recipient only -----------------------------------
    for message in world.mailbox.messages:
        body = text_of(message) + html_of(message)
        for name, value in secrets.items():
            if value in body:
                assert name in recipients, f"the {name} was emailed"
                assert recipients[name].lower() in str(message["To"]).lower(), (name, message["To"])
