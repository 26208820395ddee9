"""Sign-ins through single sign-on (SAML, OIDC; partner administrators and customer users) and
refused sign-ins of addresses nobody has are in the audit log, with actor, address, user agent
and TrackingID, like the password sign-in; the person refused sees the same page as before."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import func, select, update

from partnerhub import ids
from partnerhub.audit.service import NO_TENANT
from partnerhub.db import Database
from partnerhub.models import AuditEvent, PartnerAdmin
from tests.audit.conftest import AUDIT_READ, audit_events, partner_org
from tests.conftest import csrf_of
from tests.factories import Tenant, make_org, make_tenant
from tests.identity.org.conftest import (  # noqa: F401 - the SSO fixtures and settings
    idp_http,
    oidc_provider,
    password_signin,
    saml_idp,
    settings,
)
from tests.sso.conftest import (
    oidc_round,
    refusal_reason,
    register_oidc,
    register_saml,
    saml_round,
)
from tests.sso.oidc_provider import OidcProvider
from tests.sso.saml_idp import SamlIdp

NEW_PASSWORD = "a much better passphrase"
BROWSER = {"User-Agent": "sso-audit/2.0", "TrackingID": "SSO_AUDIT_1"}


async def rows(db: Database, action: str | None = None) -> list[AuditEvent]:
    async with db.transaction() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.created)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        return list((await session.execute(stmt)).scalars())


async def count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(AuditEvent.id)))).scalar_one())


def item(response: httpx.Response, action: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    [found] = [i for i in response.json()["items"] if i["data"]["action"] == action]
    return dict(found)


async def test_saml_sign_in_of_a_partner_administrator_is_recorded(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,  # noqa: F811
    tenant: Tenant,
    saml_idp: SamlIdp,  # noqa: F811
) -> None:
    idp = await register_saml(client, tenant, saml_idp, displayName="Corporate SAML")
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    answer = await client.post(rnd.acs_path, data=rnd.fields, headers=BROWSER)
    assert answer.status_code == 303, answer.text
    reader = await tenant.token(AUDIT_READ)
    row = item(await audit_events(client, reader, partner_org(tenant)), "signin.success")
    data = row["data"]
    assert data["eventCategory"] == "LOGINS"
    assert data["actorEmail"] == tenant.admin.email
    assert row["actorId"] == ids.encode("PEOPLE", tenant.admin.id, ids.HUB)
    assert data["actorUserAgent"] == "sso-audit/2.0" and data["trackingId"] == "SSO_AUDIT_1"
    assert data["actorIp"]
    assert data["targetName"] == tenant.admin.email


async def test_refused_saml_sign_ins_are_recorded_in_the_right_log(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,  # noqa: F811
    tenant: Tenant,
    saml_idp: SamlIdp,  # noqa: F811
    db: Database,
) -> None:
    idp = await register_saml(client, tenant, saml_idp, displayName="Corporate SAML")
    globex = await make_tenant(db, "Globex")

    async def refused(email: str, forge: str | None = None) -> httpx.Response:
        rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], email)
        fields = rnd.fields
        if forge is not None:
            xml = base64.b64decode(fields["SAMLResponse"]).decode()
            fields = {
                **fields,
                "SAMLResponse": base64.b64encode(xml.replace(email, forge).encode()).decode(),
            }
        answer = await client.post(rnd.acs_path, data=fields, headers=BROWSER)
        assert answer.status_code == 403
        return answer

    # A bad assertion: nobody's address was asserted; the IdP's partner's log, the IdP named.
    assert refusal_reason(await refused("mallory@evil.example", tenant.admin.email)) == "signature"
    [bad] = await rows(db, "signin.sso_refused")
    assert bad.partner_id == tenant.partner.id and bad.customer_id is None
    assert bad.target_name == "Corporate SAML" and bad.actor_type == "anonymous"
    assert bad.detail == {"method": "saml", "idp": "Corporate SAML", "reason": "signature"}
    assert bad.actor_user_agent == "sso-audit/2.0" and bad.tracking_id == "SSO_AUDIT_1"

    # Another partner's administrator (wrong tenant) and an unknown address: the same page,
    # the same row in the IdP's partner's log (nothing about the other partner), none in theirs.
    for email in (globex.admin.email, "stranger@acme.example"):
        assert refusal_reason(await refused(email)) == "unknown_user"
    failed = await rows(db, "signin.failed")
    assert [(r.target_name, r.target_id, r.partner_id) for r in failed] == [
        (globex.admin.email, "", tenant.partner.id),
        ("stranger@acme.example", "", tenant.partner.id),
    ]
    assert {r.detail["reason"] for r in failed} == {"unknown_user"}
    globex_log = await audit_events(client, await globex.token(AUDIT_READ), partner_org(globex))
    assert "signin.failed" not in globex_log.text

    # A deactivated administrator of the partner: the same page, their row says why.
    async with db.transaction() as session:
        await session.execute(
            update(PartnerAdmin).where(PartnerAdmin.id == tenant.admin.id).values(active=False)
        )
    assert refusal_reason(await refused(tenant.admin.email)) == "unknown_user"
    [*_, disabled] = await rows(db, "signin.failed")
    assert disabled.target_id == str(tenant.admin.id) and disabled.actor_email == tenant.admin.email
    assert disabled.detail["reason"] == "inactive"
    reader = await tenant.token(AUDIT_READ)
    log = await audit_events(client, reader, partner_org(tenant), eventCategories="FAILED_LOGINS")
    texts = [i["data"]["actionText"] for i in log.json()["items"]]
    assert "A sign-in through the identity provider Corporate SAML was refused" in texts
    assert f"A sign-in as {tenant.admin.email} was refused" in texts


async def test_unsolicited_and_replayed_answers_leave_no_row(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,  # noqa: F811
    tenant: Tenant,
    saml_idp: SamlIdp,  # noqa: F811
    db: Database,
) -> None:
    """Only an attempt started here is recorded (success or refusal, once): posting junk or a
    used answer to the public ACS writes nothing to a log that cannot be purged."""
    idp = await register_saml(client, tenant, saml_idp)
    rnd = await saml_round(client, idp_http, tenant, saml_idp, idp["id"], tenant.admin.email)
    assert (await client.post(rnd.acs_path, data=rnd.fields)).status_code == 303
    before = await count(db)
    client.cookies.delete("partnerhub_session")
    assert refusal_reason(await client.post(rnd.acs_path, data=rnd.fields)) == "replayed"
    junk = await client.post(rnd.acs_path, data={"SAMLResponse": "bm90IHNhbWw="})
    assert junk.status_code == 400
    assert await count(db) == before


async def test_oidc_sign_ins_of_customer_users_are_in_their_organizations_log(
    client: httpx.AsyncClient,
    idp_http: httpx.AsyncClient,  # noqa: F811
    tenant: Tenant,
    oidc_provider: OidcProvider,  # noqa: F811
    db: Database,
) -> None:
    provider = await register_oidc(client, tenant, oidc_provider, name="Corp", domains=[])
    customer, user = await make_org(
        db, tenant, method="partner_oidc", oidc_idp_name="Corp", name="Hooli"
    )
    other, platform_user = await make_org(db, tenant, method="platform", name="Platformco")
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], user.email, "/org"
    )
    assert (await client.get(callback, headers=BROWSER)).status_code == 303
    client.cookies.clear()
    callback = await oidc_round(
        client, idp_http, tenant, oidc_provider, provider["id"], platform_user.email, "/org"
    )
    answer = await client.get(callback, headers=BROWSER)
    assert answer.status_code == 403 and refusal_reason(answer) == "unknown_user"

    reader = await tenant.token(AUDIT_READ)
    assert customer.org_id is not None and other.org_id is not None
    hooli = ids.encode("ORGANIZATION", customer.org_id, "us")
    success = item(await audit_events(client, reader, hooli), "signin.success")
    assert success["data"]["actorEmail"] == user.email
    assert success["data"]["trackingId"] == "SSO_AUDIT_1"
    assert success["data"]["targetOrgName"] == "Hooli"
    platformco = ids.encode("ORGANIZATION", other.org_id, "us")
    refused = item(await audit_events(client, reader, platformco), "signin.failed")
    assert refused["data"]["targetName"] == platform_user.email
    assert refused["data"]["actorUserAgent"] == "sso-audit/2.0"
    [row] = await rows(db, "signin.failed")
    assert row.detail == {"method": "oidc", "idp": "Corp", "reason": "another_sign_in_method"}
    # The partner's own log holds neither.
    own = await audit_events(client, reader, partner_org(tenant))
    assert user.email not in own.text and platform_user.email not in own.text


async def test_a_refused_password_of_an_address_nobody_has_is_recorded_in_no_tenants_log(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, clean_db: str, tmp_path: Path
) -> None:
    """The same answer as for a known address with a wrong password; the row goes to the log
    of no organization, which no partner reads and the operator lists
    (``partnerhub audit unattributed``)."""
    known = await password_signin(client, tenant.admin.email, "wrong-password-1", "/")
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@nowhere.example"
    unknown = await password_signin(client, nobody, "wrong-password-1", "/")
    assert known.status_code == unknown.status_code == 401
    same = known.text.replace(tenant.admin.email, nobody)
    assert same.replace(quote(tenant.admin.email), quote(nobody)) == unknown.text
    page = await client.get("/login")
    at_login = await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": nobody, "password": "x", "next": "/"},
        headers=BROWSER,
    )
    assert at_login.status_code == 401
    failed = await rows(db, "signin.failed")
    assert [(r.partner_id, r.target_name) for r in failed] == [
        (tenant.partner.id, tenant.admin.email),
        (NO_TENANT, nobody),
        (NO_TENANT, nobody),
    ]
    assert failed[2].org_id == NO_TENANT and failed[2].customer_id is None
    assert failed[2].detail == {"method": "password", "reason": "unknown_address"}
    assert failed[2].tracking_id == "SSO_AUDIT_1" and failed[2].actor_ip
    log = await audit_events(client, await tenant.token(AUDIT_READ), partner_org(tenant))
    assert nobody not in log.text
    env = {**os.environ, "PARTNERHUB_DATABASE_URL": clean_db, "PARTNERHUB_DATA_DIR": str(tmp_path)}
    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "partnerhub", "audit", "unattributed", "--since", "1h"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(fields[2], fields[3], fields[5], fields[6]) for fields in lines] == [
        ("password", nobody, "SSO_AUDIT_1", "signin.failed"),
        ("password", nobody, failed[1].tracking_id, "signin.failed"),
    ]
    assert tenant.admin.email not in listed.stdout


async def _submit(client: httpx.AsyncClient, path: str, password: str) -> httpx.Response:
    page = await client.get("/signin")  # a page that always renders: its form's CSRF token
    return await client.post(
        path,
        data={"csrf_token": csrf_of(page.text), "password": password, "confirm": password},
        headers=BROWSER,
    )


async def test_e_mailed_links_used_and_refused_are_recorded(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """A customer user's invitation (set a password) and a partner administrator's invitation:
    the use is a credential change by them; a refused use of a genuine link (used, expired) is
    in the holder's log; an altered token names nobody and leaves no row."""
    from partnerhub.identity import org_auth
    from partnerhub.partners import invitations

    customer, user = await make_org(db, tenant, name="Hooli")
    async with db.transaction() as session:
        _, url = await org_auth.issue_link(session, user.id, org_auth.INVITATION)
        _, old = await org_auth.issue_link(
            session, user.id, org_auth.PASSWORD_RESET, timedelta(seconds=-1)
        )
        admin, _pw = await tenant.add_admin("admin")
        _, admin_url = await invitations.issue(session, admin.id, timedelta(seconds=-1))
    path = url.removeprefix("https://testserver")
    assert (await _submit(client, path, NEW_PASSWORD)).status_code == 303
    assert (await _submit(client, path, NEW_PASSWORD)).status_code == 410  # used
    expired = await _submit(client, old.removeprefix("https://testserver"), NEW_PASSWORD)
    assert expired.status_code == 410
    before = await count(db)
    assert (await _submit(client, path[:-3] + "AAA", NEW_PASSWORD)).status_code == 404
    assert await count(db) == before
    admin_path = admin_url.removeprefix("https://testserver")
    assert (await _submit(client, admin_path, NEW_PASSWORD)).status_code == 410

    assert customer.org_id is not None
    reader = await tenant.token(AUDIT_READ)
    hooli = await audit_events(client, reader, ids.encode("ORGANIZATION", customer.org_id, "us"))
    used = item(hooli, "account.password_link")
    assert used["data"]["actorEmail"] == user.email
    assert used["data"]["eventCategory"] == "CREDENTIALS"
    assert used["data"]["trackingId"] == "SSO_AUDIT_1"
    refused = await rows(db, "signin.link_refused")
    assert [(r.target_name, r.detail, r.customer_id) for r in refused] == [
        (user.email, {"link": "invitation", "reason": "used"}, customer.id),
        (user.email, {"link": "password_reset", "reason": "expired"}, customer.id),
        (admin.email, {"link": "invitation", "reason": "expired"}, None),
    ]
    assert refused[2].partner_id == tenant.partner.id
    own = await audit_events(client, reader, partner_org(tenant), eventCategories="FAILED_LOGINS")
    texts = [i["data"]["actionText"] for i in own.json()["items"]]
    assert texts == [f"An e-mailed link of {admin.email} was refused"]
