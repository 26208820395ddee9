"""A customer-portal user's language is remembered (org_users.language, migration 0016): the
pick follows them to another browser, and the e-mails about their own account are in it."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select, text

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.identity import org_auth
from partnerhub.models import Customer, OrgUser, OutboxEmail
from tests.conftest import csrf_of
from tests.factories import Tenant, give_password, make_org
from tests.identity.org.conftest import PASSWORD, password_signin
from tests.portal.helpers import browser_session

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


async def stored_language(db: Database, user: OrgUser) -> str | None:
    async with db.transaction() as session:
        return await session.scalar(
            text("SELECT language FROM org_users WHERE id = :id"), {"id": user.id}
        )


async def test_a_customer_users_pick_is_remembered_on_another_browser(
    app: FastAPI, db: Database, tenant: Tenant
) -> None:
    customer, user = await make_org(db, tenant, name="Pizzeria")
    await give_password(db, user)
    users_page = f"/org/{ids.encode('CUSTOMER', customer.id, 'us')}/users"
    async with browser_session(app) as client:
        client.headers.update(ENGLISH)
        await password_signin(client, user.email, PASSWORD)
        page = await client.get(users_page)
        assert '<html lang="en">' in page.text
        assert await stored_language(db, user) is None  # nothing picked: the browser's
        picked = await client.post(
            "/language", data={"csrf_token": csrf_of(page.text), "lang": "it", "next": users_page}
        )
        assert picked.status_code == 303
        assert '<html lang="it">' in (await client.get(users_page)).text
    assert await stored_language(db, user) == "it"
    async with browser_session(app) as other:  # another browser, in English, no cookie
        other.headers.update(ENGLISH)
        await password_signin(other, user.email, PASSWORD)
        assert '<html lang="it">' in (await other.get(users_page)).text


async def test_a_pick_on_the_sign_in_page_becomes_the_users(
    app: FastAPI, db: Database, tenant: Tenant
) -> None:
    _customer, user = await make_org(db, tenant, name="Trattoria")
    await give_password(db, user)
    async with browser_session(app) as client:
        client.headers.update(ENGLISH)
        page = await client.get("/signin")
        chosen = await client.post(
            "/language", data={"csrf_token": csrf_of(page.text), "lang": "it", "next": "/signin"}
        )
        assert chosen.status_code == 303
        await password_signin(client, user.email, PASSWORD)
    assert await stored_language(db, user) == "it"


async def test_account_emails_are_in_the_users_language(db: Database, tenant: Tenant) -> None:
    """The customer speaks English; the user picked Italian: their invitation is Italian. A
    user who picked nothing gets the customer's language."""
    customer, user = await make_org(db, tenant, name="Osteria")
    _, other = await make_org(db, tenant, name="Osteria2")
    async with db.transaction() as session:
        row = await session.get(OrgUser, user.id)
        assert row is not None
        row.language = "it"
    for who, expected in ((user, "it"), (other, "en")):
        async with db.transaction() as session:
            fresh = await session.get(OrgUser, who.id)
            owner = await session.get(Customer, who.customer_id)
            assert fresh is not None and owner is not None
            await org_auth.send_invitation(session, fresh, owner, "admin@acme.example")
        async with db.transaction() as session:
            stmt = select(OutboxEmail).where(OutboxEmail.to_address == who.email)
            mail = (await session.execute(stmt)).scalar_one()
        assert mail.language == expected, (who.email, mail.language)
    assert customer.language == "en"
