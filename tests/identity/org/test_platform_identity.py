"""Platform identity of organization users: invitation and reset links (single use, expiring,
signed), password sign-in, lock-out and unlock, the optional TOTP second factor."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pyotp
from sqlalchemy import select, text

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.identity import org_auth
from partnerhub.identity.service import sign_in_email_key
from partnerhub.models import IdentityLink, OrgCredential, OutboxEmail, SignInAttempt
from partnerhub.models.base import utcnow
from tests.conftest import csrf_of
from tests.customers.helpers import running_worker
from tests.factories import Tenant, give_password, make_org
from tests.identity.org.conftest import PASSWORD, link_in, password_signin

NEW_PASSWORD = "a much better passphrase"


async def _invite(db: Database, user_id: object, lifetime: timedelta | None = None) -> str:
    async with db.transaction() as session:
        _, url = await org_auth.issue_link(
            session,
            user_id,
            org_auth.INVITATION,
            lifetime,  # type: ignore[arg-type]
        )
    return url.removeprefix("https://testserver")


async def _set_password(client: httpx.AsyncClient, path: str, password: str) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(
        path,
        data={"csrf_token": csrf_of(page.text), "password": password, "confirm": password},
    )


async def test_invitation_link_sets_a_password_once(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant, name="Hooli")
    path = await _invite(db, user.id)
    page = await client.get(path)
    assert page.status_code == 200 and user.email in page.text
    done = await _set_password(client, path, PASSWORD)
    assert done.status_code == 303 and done.headers["location"].startswith("/signin/done")
    # It works once.
    again = await client.get(path)
    assert again.status_code == 410 and 'data-reason="used"' in again.text
    csrf = csrf_of((await client.get("/signin")).text)
    reuse = await client.post(
        path, data={"csrf_token": csrf, "password": "x" * 20, "confirm": "x" * 20}
    )
    assert reuse.status_code == 410
    # And the password it set signs the user in.
    signed = await password_signin(client, user.email, PASSWORD)
    assert signed.status_code == 303 and signed.headers["location"] == "/org"
    home = await client.get("/org")
    assert (
        home.headers["location"] == f"/org/{ids.encode('CUSTOMER', user.customer_id, 'us')}/users"
    )


async def test_invitation_link_refused_after_expiry_or_when_altered(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant)
    expired = await _invite(db, user.id, timedelta(seconds=-1))
    page = await client.get(expired)
    assert page.status_code == 410 and 'data-reason="expired"' in page.text
    # A link whose row says it expired (an administrator shortened it) is refused too.
    path = await _invite(db, user.id)
    async with db.transaction() as session:
        for link in (await session.execute(select(IdentityLink))).scalars():
            link.expires = utcnow() - timedelta(seconds=1)
    assert 'data-reason="expired"' in (await client.get(path)).text
    fresh = await _invite(db, user.id)
    token = fresh.rsplit("/", 1)[1]
    forged = fresh.replace(token, token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))
    assert (await client.get(forged)).status_code == 404
    # A reset token cannot be used as an invitation (purpose is signed in).
    async with db.transaction() as session:
        _, reset = await org_auth.issue_link(session, user.id, org_auth.PASSWORD_RESET)
    wrong = "/account/set-password/" + reset.rsplit("/", 1)[1]
    assert (await client.get(wrong)).status_code == 404
    async with db.transaction() as session:
        assert await session.get(OrgCredential, user.id) is None


async def test_weak_or_mismatched_passwords_are_refused_and_the_link_kept(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant)
    path = await _invite(db, user.id)
    short = await _set_password(client, path, "short")
    assert short.status_code == 400 and "at least 12 characters" in short.text
    page = await client.get(path)
    mismatch = await client.post(
        path, data={"csrf_token": csrf_of(page.text), "password": PASSWORD, "confirm": "other" * 4}
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    assert (await _set_password(client, path, PASSWORD)).status_code == 303


async def test_password_reset_by_email(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant, name="Hooli")
    await give_password(db, user)
    page = await client.get("/signin/forgot")
    sent = await client.post(
        "/signin/forgot", data={"csrf_token": csrf_of(page.text), "email": user.email}
    )
    assert sent.status_code == 200 and 'id="reset-sent"' in sent.text
    # An unknown email gets the same answer and no email.
    other = await client.post(
        "/signin/forgot", data={"csrf_token": csrf_of(page.text), "email": "nobody@x.example"}
    )
    assert other.text.count('id="reset-sent"') == 1
    # The look-up and the email are a job's (the same answer in the same time for everyone).
    async with running_worker():
        for _ in range(200):
            async with db.transaction() as session:
                mails = list((await session.execute(select(OutboxEmail))).scalars())
                jobs = await session.execute(
                    text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
                )
            if mails and jobs.scalar_one() == 0:
                break
            await asyncio.sleep(0.05)
    assert [m.to_address for m in mails] == [user.email]
    assert mails[0].kind == "password_reset" and "Brand" in mails[0].subject
    path = link_in(mails[0].body_text)
    assert path.startswith("/account/reset-password/")
    assert (await _set_password(client, path, NEW_PASSWORD)).status_code == 303
    assert (await client.get(path)).status_code == 410  # once
    old = await password_signin(client, user.email, PASSWORD)
    assert old.status_code == 401
    new = await password_signin(client, user.email, NEW_PASSWORD)
    assert new.status_code == 303


async def test_reset_link_expires(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    _, user = await make_org(db, tenant)
    async with db.transaction() as session:
        _, url = await org_auth.issue_link(
            session, user.id, org_auth.PASSWORD_RESET, timedelta(seconds=-5)
        )
    page = await client.get(url.removeprefix("https://testserver"))
    assert page.status_code == 410 and 'data-reason="expired"' in page.text


async def test_lock_out_after_repeated_failures_and_unlock(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """Settings: 3 failures lock for 15 minutes (tests/identity/org/conftest.py)."""
    customer, user = await make_org(db, tenant)
    await give_password(db, user)
    for _ in range(2):
        wrong = await password_signin(client, user.email, "not the password")
        assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    third = await password_signin(client, user.email, "not the password")
    assert third.status_code == 429
    assert 'id="account-locked"' in third.text
    retry = int(third.headers["Retry-After"])
    assert 14 * 60 < retry <= 15 * 60
    # While locked, even the right password is refused, with the same clear page.
    right = await password_signin(client, user.email, PASSWORD)
    assert right.status_code == 429 and 'id="account-locked"' in right.text
    assert "Retry-After" in right.headers
    # Unlock by an administrator: the partner's administrator in the customer portal.
    from tests.conftest import portal_login

    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    ref = ids.encode("CUSTOMER", customer.id, "us")
    listed = await client.get(f"/org/{ref}/users")
    assert "locked" in listed.text
    unlocked = await client.post(
        f"/org/{ref}/users/{ids.encode('PEOPLE', user.id, 'us')}/unlock", data={"csrf_token": csrf}
    )
    assert unlocked.status_code == 303
    assert (await password_signin(client, user.email, PASSWORD)).status_code == 303


async def test_lock_ends_by_itself(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    _, user = await make_org(db, tenant)
    await give_password(db, user)
    for _ in range(3):
        await password_signin(client, user.email, "nope nope nope")
    assert (await password_signin(client, user.email, PASSWORD)).status_code == 429
    async with db.transaction() as session:  # the lock-out period passes
        row = await session.get(SignInAttempt, sign_in_email_key(user.email))
        assert row is not None and row.locked_until is not None
        row.locked_until = row.expires = utcnow() - timedelta(seconds=1)
    assert (await password_signin(client, user.email, PASSWORD)).status_code == 303


async def test_sso_organizations_have_no_password_sign_in(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    _, user = await make_org(db, tenant, method="partner_saml", idp_entity_id="https://idp")
    await give_password(db, user)  # even a stale password does not work
    answer = await password_signin(client, user.email, PASSWORD)
    assert answer.status_code == 401 and "Wrong email or password" in answer.text
    unknown = await password_signin(client, "nobody@nowhere.example", PASSWORD)
    assert unknown.status_code == 401 and unknown.text.count("Wrong email or password") == 1


async def test_totp_second_factor(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    customer, user = await make_org(db, tenant)
    await give_password(db, user)
    assert (await password_signin(client, user.email, PASSWORD)).status_code == 303
    ref = ids.encode("CUSTOMER", customer.id, "us")
    account = await client.get(f"/org/{ref}/account")
    csrf = csrf_of(account.text)
    begin = await client.post(
        f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "begin"}
    )
    secret = begin.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    totp = pyotp.TOTP(secret)
    bad = await client.post(
        f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "confirm", "code": "000000"}
    )
    assert bad.status_code == 400
    on = await client.post(
        f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "confirm", "code": totp.now()}
    )
    assert 'id="totp-on"' in on.text
    await client.post("/org/logout", data={"csrf_token": csrf})
    # Sign in again: the password alone leads to the code page, not into the portal.
    signed = await password_signin(client, user.email, PASSWORD)
    assert signed.headers["location"] == "/signin/totp"
    assert (await client.get(f"/org/{ref}/users")).status_code == 303  # not yet
    page = await client.get("/signin/totp")
    wrong = await client.post(
        "/signin/totp", data={"csrf_token": csrf_of(page.text), "code": "123456"}
    )
    assert wrong.status_code == 401
    # The code used to turn TOTP on cannot be used again (one use per code)...
    async with db.transaction() as session:
        credential = await session.get(OrgCredential, user.id)
        assert credential is not None and credential.totp_enabled
        used_step = credential.totp_last_step
    assert used_step is not None
    replay = await client.post(
        "/signin/totp",
        data={"csrf_token": csrf_of(page.text), "code": totp.generate_otp(used_step)},
    )
    assert replay.status_code == 401
    # ...the next step's code (one step of drift is accepted) lets the user in.
    fresh = await client.post(
        "/signin/totp",
        data={"csrf_token": csrf_of(page.text), "code": totp.generate_otp(used_step + 1)},
    )
    assert fresh.status_code == 303 and fresh.headers["location"] == "/org"
    assert (await client.get(f"/org/{ref}/users")).status_code == 200
