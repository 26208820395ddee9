"""Attempts the sign-in throttle refuses (429) and password reset requests are in the audit
log: in the log of whoever holds the address typed (a partner administrator's partner, a
customer user's organization), or the log of no organization for an address nobody has,
with the client address, user agent and TrackingID; another partner sees none of them, and
the answer is the same page whoever holds the address (docs/audit.md).

Settings: 3 failures lock an address (tests/identity/org/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select, text

from partnerhub import ids
from partnerhub.audit.service import NO_TENANT
from partnerhub.db import Database
from partnerhub.models import AuditEvent, Customer, OrgUser
from tests.audit.conftest import AUDIT_READ, audit_events, partner_org
from tests.audit.test_audit_portal import italian
from tests.conftest import csrf_of, portal_login
from tests.customers.helpers import running_worker
from tests.factories import Tenant, give_password, make_org, make_tenant
from tests.identity.org.conftest import PASSWORD, settings  # noqa: F401 - lock-out after 3

BROWSER = {"User-Agent": "throttle-audit/1.0", "TrackingID": "THROTTLE_AUDIT_1"}
CSRF_RE = re.compile(r'(name="csrf_token" value=")[^"]+(")')


@contextlib.asynccontextmanager
async def browser(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A visitor from client address ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers=BROWSER
    ) as client:
        yield client


def masked(response: httpx.Response, email: str) -> str:
    """The page with the CSRF token and the typed address (echoed in the form) masked."""
    page = CSRF_RE.sub(r"\1CSRF\2", response.text)
    for form in (email, quote(email, safe=""), quote_plus(email)):
        page = page.replace(form, "EMAIL")
    return page


def assert_same_answers(answers: dict[str, httpx.Response]) -> None:
    """Every address got the same answer: status, page (address masked), Retry-After."""
    (base_email, base), *rest = answers.items()
    for email, answer in rest:
        assert answer.status_code == base.status_code, email
        assert masked(answer, email) == masked(base, base_email), email
        assert ("Retry-After" in answer.headers) == ("Retry-After" in base.headers), email
        if "Retry-After" in base.headers:
            gap = int(answer.headers["Retry-After"]) - int(base.headers["Retry-After"])
            assert abs(gap) <= 5, email


async def rows(db: Database, action: str) -> list[AuditEvent]:
    async with db.transaction() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created)
        return list((await session.execute(stmt)).scalars())


def only(response: httpx.Response, action: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    [found] = [i for i in response.json()["items"] if i["data"]["action"] == action]
    return dict(found)


def org_of(customer: Customer) -> str:
    assert customer.org_id is not None
    return ids.encode("ORGANIZATION", customer.org_id, "us")


async def signin_password(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/signin")
    return await client.post(
        "/signin/password",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password, "next": "/"},
    )


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password, "next": "/"},
    )


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/signin/forgot")
    return await client.post(
        "/signin/forgot", data={"csrf_token": csrf_of(page.text), "email": email}
    )


async def test_throttled_password_sign_ins_are_recorded_in_the_holders_log(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """``/signin/password``: three wrong passwords lock the address (the third is a refused
    password, ``signin.failed``); the next attempt is refused by the throttle before anything
    is checked: ``signin.throttled``, in the administrator's partner's log, the customer
    user's organization's log, or the log of no organization."""
    globex = await make_tenant(db, "Globex")
    hooli, user = await make_org(db, tenant, name="Hooli")
    await give_password(db, user)
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@nowhere.example"
    emails = [tenant.admin.email, user.email, nobody]
    async with browser(app, "203.0.113.7") as client:
        for email in emails:
            for _ in range(3):
                await signin_password(client, email, "not the password")
        answers = {
            email: await signin_password(client, email, "not the password") for email in emails
        }
        # Even the right password is refused while locked, and recorded the same way.
        right = await signin_password(client, user.email, PASSWORD)
    assert {a.status_code for a in answers.values()} == {429}
    assert_same_answers(answers)
    assert right.status_code == 429 and masked(right, user.email) == masked(answers[nobody], nobody)

    throttled = await rows(db, "signin.throttled")
    assert [(r.partner_id, r.customer_id, r.target_name) for r in throttled] == [
        (tenant.partner.id, None, tenant.admin.email),
        (tenant.partner.id, hooli.id, user.email),
        (NO_TENANT, None, nobody),
        (tenant.partner.id, hooli.id, user.email),
    ]
    for row in throttled:
        assert row.detail == {"method": "password", "reason": "too_many_attempts"}
        assert row.actor_type == "anonymous" and row.actor_ip == "203.0.113.7"
        assert row.actor_user_agent == "throttle-audit/1.0"
        assert row.tracking_id == "THROTTLE_AUDIT_1"
    assert throttled[2].org_id == NO_TENANT

    async with await _api(app) as api:
        await _read_throttled_sign_ins(api, tenant, globex, hooli, user, nobody)
    # The partner portal's Audit log, in Italian (another administrator: this one is locked).
    second, password = await tenant.add_admin("admin")
    async with browser(app, "203.0.113.8") as client:
        csrf = await portal_login(client, second.email, password)
        await italian(client, csrf)
        page = await client.get("/audit", params={"category": "FAILED_LOGINS"})
    assert page.status_code == 200 and '<html lang="it">' in page.text
    assert "Accesso rifiutato: troppi tentativi" in page.text
    assert (
        f"Un accesso come {tenant.admin.email} è stato rifiutato per troppi tentativi" in page.text
    )


async def _read_throttled_sign_ins(
    client_api: httpx.AsyncClient,
    tenant: Tenant,
    globex: Tenant,
    hooli: Customer,
    user: OrgUser,
    nobody: str,
) -> None:
    reader = await tenant.token(AUDIT_READ)
    own = await audit_events(client_api, reader, partner_org(tenant))
    data = only(own, "signin.throttled")["data"]
    assert data["eventCategory"] == "FAILED_LOGINS"
    assert data["eventDescription"] == "Sign-in refused: too many attempts"
    assert data["actionText"] == (
        f"A sign-in as {tenant.admin.email} was refused because of too many attempts"
    )
    assert data["actorIp"] == "203.0.113.7" and data["actorUserAgent"] == "throttle-audit/1.0"
    assert data["targetId"] == str(tenant.admin.id) and data["targetName"] == tenant.admin.email
    assert nobody not in own.text and user.email not in own.text
    org_log = await audit_events(client_api, reader, org_of(hooli), eventCategories="FAILED_LOGINS")
    texts = [i["data"]["actionText"] for i in org_log.json()["items"]]
    assert texts.count(f"A sign-in as {user.email} was refused because of too many attempts") == 2
    [first, *_] = [i for i in org_log.json()["items"] if i["data"]["action"] == "signin.throttled"]
    assert first["data"]["targetOrgName"] == "Hooli"
    assert first["data"]["targetId"] == ids.encode("PEOPLE", user.id, "us")
    # Another partner sees none of it, in its own log or by naming the organization.
    other = await globex.token(AUDIT_READ)
    theirs = await audit_events(client_api, other, partner_org(globex))
    assert theirs.status_code == 200 and "signin.throttled" not in theirs.text
    assert (await audit_events(client_api, other, org_of(hooli))).status_code == 404
    assert (await audit_events(client_api, other, partner_org(tenant))).status_code == 404


async def _api(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


async def test_throttled_partner_portal_login_is_recorded(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """``/login`` (partner administrators only): a throttled administrator's address is in
    their partner's log; a customer user's address is nobody's there (the log of no
    organization), like an address nobody has; the same page for all three."""
    globex = await make_tenant(db, "Globex")
    _hooli, user = await make_org(db, tenant, name="Hooli")
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@nowhere.example"
    emails = [tenant.admin.email, user.email, nobody]
    async with browser(app, "198.51.100.20") as client:
        for email in emails:
            for _ in range(3):
                await login(client, email, "not the password")
        answers = {email: await login(client, email, "not the password") for email in emails}
    assert {a.status_code for a in answers.values()} == {429}
    assert_same_answers(answers)
    throttled = await rows(db, "signin.throttled")
    assert [(r.partner_id, r.customer_id, r.target_name) for r in throttled] == [
        (tenant.partner.id, None, tenant.admin.email),
        (NO_TENANT, None, user.email),
        (NO_TENANT, None, nobody),
    ]
    assert {r.actor_ip for r in throttled} == {"198.51.100.20"}
    async with await _api(app) as api:
        own = await audit_events(api, await tenant.token(AUDIT_READ), partner_org(tenant))
        assert only(own, "signin.throttled")["data"]["actorIp"] == "198.51.100.20"
        theirs = await audit_events(api, await globex.token(AUDIT_READ), partner_org(globex))
        assert "signin.throttled" not in theirs.text


async def _turn_on_totp(client: httpx.AsyncClient, ref: str) -> pyotp.TOTP:
    account = await client.get(f"/org/{ref}/account")
    csrf = csrf_of(account.text)
    begin = await client.post(
        f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "begin"}
    )
    secret = begin.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    totp = pyotp.TOTP(secret)
    on = await client.post(
        f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "confirm", "code": totp.now()}
    )
    assert 'id="totp-on"' in on.text
    await client.post("/org/logout", data={"csrf_token": csrf})
    return totp


async def test_a_throttled_second_factor_code_is_recorded_in_the_organizations_log(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    globex = await make_tenant(db, "Globex")
    hooli, user = await make_org(db, tenant, name="Hooli")
    await give_password(db, user)
    ref = ids.encode("CUSTOMER", hooli.id, "us")
    async with browser(app, "192.0.2.44") as client:
        assert (await signin_password(client, user.email, PASSWORD)).status_code == 303
        await _turn_on_totp(client, ref)
        signed = await signin_password(client, user.email, PASSWORD)
        assert signed.headers["location"] == "/signin/totp"
        page = await client.get("/signin/totp")
        codes = []
        for _ in range(4):  # the third wrong code locks; the fourth is refused unchecked
            codes.append(
                await client.post(
                    "/signin/totp", data={"csrf_token": csrf_of(page.text), "code": "000000"}
                )
            )
    assert [c.status_code for c in codes] == [401, 401, 429, 429]
    assert len(await rows(db, "signin.second_factor_failed")) == 3
    [row] = await rows(db, "signin.throttled")
    assert (row.partner_id, row.customer_id) == (tenant.partner.id, hooli.id)
    assert row.detail == {"method": "totp", "reason": "too_many_attempts"}
    assert row.actor_type == "customer_admin" and row.actor_id == user.id  # the password was right
    assert row.actor_ip == "192.0.2.44" and row.tracking_id == "THROTTLE_AUDIT_1"
    async with await _api(app) as api:
        log = await audit_events(api, await tenant.token(AUDIT_READ), org_of(hooli))
        data = only(log, "signin.throttled")["data"]
        assert data["eventCategory"] == "FAILED_LOGINS"
        assert data["actorEmail"] == user.email and data["actorIp"] == "192.0.2.44"
        assert data["actionText"] == (
            f"A sign-in as {user.email} was refused because of too many attempts"
        )
        assert (
            await audit_events(api, await globex.token(AUDIT_READ), org_of(hooli))
        ).status_code == 404


async def test_a_throttled_password_check_in_the_customer_portal_is_recorded(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """The account page's proofs (the current password to change it) count like sign-ins;
    the one the throttle refuses is ``account.proof_throttled`` by the signed-in user."""
    globex = await make_tenant(db, "Globex")
    hooli, user = await make_org(db, tenant, name="Hooli")
    await give_password(db, user)
    ref = ids.encode("CUSTOMER", hooli.id, "us")
    async with browser(app, "192.0.2.45") as client:
        assert (await signin_password(client, user.email, PASSWORD)).status_code == 303
        csrf = csrf_of((await client.get(f"/org/{ref}/account")).text)
        answers = []
        for _ in range(4):
            answers.append(
                await client.post(
                    f"/org/{ref}/account/password",
                    data={
                        "csrf_token": csrf,
                        "current": "not the password",
                        "password": "a much better passphrase",
                        "confirm": "a much better passphrase",
                    },
                )
            )
    assert [a.status_code for a in answers][-1] == 429
    assert all(a.status_code != 429 for a in answers[:3])
    [row] = await rows(db, "account.proof_throttled")
    assert (row.partner_id, row.customer_id) == (tenant.partner.id, hooli.id)
    assert row.detail == {"method": "password_change", "reason": "too_many_attempts"}
    assert row.actor_id == user.id and row.actor_ip == "192.0.2.45"
    async with await _api(app) as api:
        log = await audit_events(api, await tenant.token(AUDIT_READ), org_of(hooli))
        data = only(log, "account.proof_throttled")["data"]
        assert data["eventCategory"] == "FAILED_LOGINS"
        assert data["eventDescription"] == "Password or code check refused: too many attempts"
        assert data["actionText"] == (
            f"A password or code check of {user.email} was refused because of too many attempts"
        )
        assert data["actorIp"] == "192.0.2.45"
        assert (
            await audit_events(api, await globex.token(AUDIT_READ), org_of(hooli))
        ).status_code == 404
        theirs = await audit_events(api, await globex.token(AUDIT_READ), partner_org(globex))
        assert "account.proof_throttled" not in theirs.text


async def _drain(db: Database) -> None:
    """Run the worker until the queued reset requests are done."""
    async with running_worker():
        for _ in range(400):
            async with db.transaction() as session:
                left = await session.execute(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
                        " AND task_name = 'identity.password_reset_request'"
                    )
                )
            if left.scalar_one() == 0:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the reset requests were not handled")


async def test_password_reset_requests_are_recorded_by_the_job(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """``/signin/forgot``: the same answer for every address; the job that looks the address
    up records the request (with the request's client address, user agent and TrackingID) in
    the holder's log — a platform user's organization (a link sent), an administrator's partner
    (nothing sent) — or the log of no organization."""
    globex = await make_tenant(db, "Globex")
    hooli, user = await make_org(db, tenant, name="Hooli")
    sso_org, sso_user = await make_org(db, tenant, method="partner_saml", name="Samlco")
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@nowhere.example"
    emails = [user.email, tenant.admin.email, sso_user.email, nobody]
    async with browser(app, "203.0.113.99") as client:
        answers = {email: await forgot(client, email) for email in emails}
    assert {a.status_code for a in answers.values()} == {200}
    assert_same_answers(answers)
    await _drain(db)
    requests = {r.target_name: r for r in await rows(db, "account.reset_request")}
    assert set(requests) == set(emails)
    assert (requests[user.email].customer_id, requests[user.email].detail) == (
        hooli.id,
        {"method": "reset", "sent": True},
    )
    admin_row = requests[tenant.admin.email]
    assert (admin_row.partner_id, admin_row.customer_id) == (tenant.partner.id, None)
    assert admin_row.detail == {"method": "reset", "sent": False, "reason": "administrator"}
    assert requests[sso_user.email].customer_id == sso_org.id
    assert requests[sso_user.email].detail["reason"] == "another_sign_in_method"
    assert requests[nobody].partner_id == NO_TENANT == requests[nobody].org_id
    assert requests[nobody].detail == {
        "method": "reset",
        "sent": False,
        "reason": "unknown_address",
    }
    for row in requests.values():
        assert row.actor_type == "anonymous" and row.actor_ip == "203.0.113.99"
        assert row.actor_user_agent == "throttle-audit/1.0"
        assert row.tracking_id == "THROTTLE_AUDIT_1"
    async with await _api(app) as api:
        reader = await tenant.token(AUDIT_READ)
        log = await audit_events(api, reader, org_of(hooli), eventCategories="CREDENTIALS")
        data = only(log, "account.reset_request")["data"]
        assert data["eventCategory"] == "CREDENTIALS"
        assert data["eventDescription"] == "Password reset requested"
        assert data["actionText"] == f"A password reset was requested for {user.email}"
        assert data["actorIp"] == "203.0.113.99" and data["targetName"] == user.email
        own = await audit_events(api, reader, partner_org(tenant))
        assert only(own, "account.reset_request")["data"]["targetName"] == tenant.admin.email
        assert nobody not in own.text
        other = await globex.token(AUDIT_READ)
        theirs = await audit_events(api, other, partner_org(globex))
        assert "account.reset_request" not in theirs.text
        assert (await audit_events(api, other, org_of(hooli))).status_code == 404
    # The customer portal's Audit log, in Italian (the user signs in through the link sent).
    async with browser(app, "203.0.113.31") as client:
        csrf = await portal_login(client, tenant.admin.email, tenant.password)
        await italian(client, csrf)
        page = await client.get(f"/org/{ids.encode('CUSTOMER', hooli.id, 'us')}/audit")
    assert page.status_code == 200 and '<html lang="it">' in page.text
    assert "Reimpostazione della password richiesta" in page.text
    assert f"È stata richiesta la reimpostazione della password per {user.email}" in page.text


async def test_throttled_reset_requests_are_recorded(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """Over the limit (3 a minute per address): the same answer as before, no job, and one
    ``account.reset_throttled`` row, in the holder's log or the log of no organization."""
    globex = await make_tenant(db, "Globex")
    hooli, user = await make_org(db, tenant, name="Hooli")
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@nowhere.example"
    emails = [user.email, tenant.admin.email, nobody]
    answers: dict[str, httpx.Response] = {}
    for i, email in enumerate(emails):  # a client address each: 10 a minute per address
        async with browser(app, f"203.0.113.{10 + i}") as client:
            for _ in range(3):
                assert (await forgot(client, email)).status_code == 200
            answers[email] = await forgot(client, email)
    assert {a.status_code for a in answers.values()} == {200}
    assert_same_answers(answers)
    async with db.transaction() as session:
        queued = await session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'identity.password_reset_request'"
            )
        )
    assert queued.scalar_one() == 9  # the refused ones queue nothing
    throttled = await rows(db, "account.reset_throttled")
    assert [(r.partner_id, r.customer_id, r.target_name, r.actor_ip) for r in throttled] == [
        (tenant.partner.id, hooli.id, user.email, "203.0.113.10"),
        (tenant.partner.id, None, tenant.admin.email, "203.0.113.11"),
        (NO_TENANT, None, nobody, "203.0.113.12"),
    ]
    assert {r.detail["reason"] for r in throttled} == {"too_many_attempts"}
    assert {r.detail["method"] for r in throttled} == {"reset"}
    async with await _api(app) as api:
        reader = await tenant.token(AUDIT_READ)
        log = await audit_events(api, reader, org_of(hooli), eventCategories="FAILED_LOGINS")
        data = only(log, "account.reset_throttled")["data"]
        assert data["eventDescription"] == "Password reset refused: too many requests"
        assert data["actionText"] == (
            f"A password reset for {user.email} was refused because of too many requests"
        )
        assert data["actorIp"] == "203.0.113.10" and data["trackingId"] == "THROTTLE_AUDIT_1"
        theirs = await audit_events(api, await globex.token(AUDIT_READ), partner_org(globex))
        assert "account.reset_throttled" not in theirs.text
    # The customer's History on its page, in Italian.
    async with browser(app, "203.0.113.30") as client:
        csrf = await portal_login(client, tenant.admin.email, tenant.password)
        await italian(client, csrf)
        page = await client.get(f"/customers/{ids.encode('CUSTOMER', hooli.id, 'us')}")
    assert page.status_code == 200 and '<html lang="it">' in page.text
    assert "Reimpostazione della password rifiutata: troppe richieste" in page.text
    assert (
        f"Una reimpostazione della password per {user.email} è stata rifiutata per troppe "
        "richieste" in page.text
    )
