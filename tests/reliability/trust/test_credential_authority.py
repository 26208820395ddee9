"""Issue 10, item 4: a credential dies with its authority.

An API token acts with at most the current rights of the administrator who created it (its
scopes ∩ the creator's current role; an inactive creator → 401), on the ordinary routes and on
the hot routes alike. A password reset, a password change, a TOTP change and an
administrator's deactivation end every other session of that person.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pyotp

from partnerhub import ids
from partnerhub.models import Customer, OrgUser, PartnerAdmin
from tests.conftest import assert_error, bearer, csrf_of
from tests.customers.helpers import BASE as CUSTOMERS
from tests.factories import give_password, make_org
from tests.identity.org.conftest import PASSWORD, password_signin
from tests.reliability.trust.conftest import World

ADMINS = "/v1/partner/administrators"
TEMPLATES = "/v1/partner/templates"
SUBSCRIBERS = "/v1/wholesale/subscribers"
SCOPES = [
    "partnerhub:admin",
    "partnerhub:templates_write",
    "spark-admin:wholesale_subscribers_write",
    "spark-admin:wholesale_customers_read",
]


async def _portal_token(world: World, email: str, password: str, scopes: list[str]) -> str:
    """A token made by the administrator ``email`` on the portal's tokens page."""
    client, csrf = await world.signed_in(email, password)
    try:
        page = await client.post(
            "/settings/tokens",
            data={"csrf_token": csrf, "name": "ci", "scopes": scopes, "expires": "30d"},
        )
        assert page.status_code == 200, page.text
        match = re.search(r'id="new-token">([^<]+)<', page.text)
        assert match, page.text
        return match.group(1)
    finally:
        await client.aclose()


async def _second_full_admin(world: World) -> tuple[PartnerAdmin, str, str]:
    """Alpha's second full administrator and a token they made with :data:`SCOPES`."""
    admin, password = await world.a.add_admin("full_admin")
    token = await _portal_token(world, admin.email, password, SCOPES)
    return admin, password, token


async def _change(world: World, admin: PartnerAdmin, **change: object) -> None:
    """Alpha's first full administrator changes ``admin`` through the hub API."""
    token = await world.a.token("partnerhub:admin")
    async with world.client() as client:
        response = await client.put(
            f"{ADMINS}/{ids.encode('PEOPLE', admin.id, ids.HUB)}",
            json=change,
            headers=bearer(token),
        )
    assert response.status_code == 200, response.text


def _new_admin(n: str) -> dict[str, str]:
    return {
        "email": f"made-{n}-{uuid.uuid4().hex[:6]}@alpha.example",
        "role": "full_admin",
        "password": "a-long-password-1",
    }


async def test_a_deactivated_full_admins_token_dies_at_once(world: World) -> None:
    admin, _password, token = await _second_full_admin(world)
    customer, _user = await make_org(world.db, world.a, name="Alpha Org")
    subscriber = {
        "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
        "email": f"u-{uuid.uuid4().hex[:6]}@alpha-org.example",
        "package": "webex_meetings",
    }
    async with world.client() as client:
        made = await client.post(ADMINS, json=_new_admin("before"), headers=bearer(token))
        assert made.status_code == 201, made.text
        await _change(world, admin, active=False)
        # Every route refuses the token: the hub API, the subscribers POST and the customers GET.
        assert_error(
            await client.post(ADMINS, json=_new_admin("after"), headers=bearer(token)), 401, 1500
        )
        assert_error(await client.get(TEMPLATES, headers=bearer(token)), 401, 1500)
        assert_error(
            await client.post(SUBSCRIBERS, json=subscriber, headers=bearer(token)), 401, 1500
        )
        assert_error(await client.get(CUSTOMERS, headers=bearer(token)), 401, 1500)
        # Active again: the token acts again, with the administrator's rights.
        await _change(world, admin, active=True)
        assert (await client.get(TEMPLATES, headers=bearer(token))).status_code == 200


async def test_a_demoted_admins_token_narrows_to_the_new_role(world: World) -> None:
    admin, _password, token = await _second_full_admin(world)
    customer, _user = await make_org(world.db, world.a, name="Alpha Org")
    await _change(world, admin, role="read_only")
    async with world.client() as client:
        assert_error(
            await client.post(ADMINS, json=_new_admin("demoted"), headers=bearer(token)), 403, 1300
        )
        template = {
            "name": "Demoted",
            "offer": "wholesale",
            "serviceProviderAdminEmail": world.a.admin.email,
            "country": "US",
            "defaultEmailLanguage": "en_US",
            "wholesaleSubscriptionId": "Sub-1",
            "authentication": {"method": "platform"},
            "email": {"brandName": "Alpha"},
        }
        assert_error(await client.post(TEMPLATES, json=template, headers=bearer(token)), 403, 1300)
        # The subscribers POST too: a read-only administrator's token writes no subscriber.
        subscriber = {
            "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
            "email": f"u-{uuid.uuid4().hex[:6]}@alpha-org.example",
            "package": "webex_meetings",
        }
        assert_error(
            await client.post(SUBSCRIBERS, json=subscriber, headers=bearer(token)), 403, 1300
        )
        # What both the token and the role grant still works (a _write scope's _read).
        assert (await client.get(TEMPLATES, headers=bearer(token))).status_code == 200
        assert (await client.get(CUSTOMERS, headers=bearer(token))).status_code == 200
        assert (await client.get(SUBSCRIBERS, headers=bearer(token))).status_code == 200


# --- sessions ---------------------------------------------------------------------------------


async def _partner_page(client: httpx.AsyncClient) -> int:
    return (await client.get("/customers/templates")).status_code


async def test_deactivating_an_administrator_ends_their_portal_sessions(world: World) -> None:
    admin, password = await world.a.add_admin("admin")
    one, _csrf = await world.signed_in(admin.email, password)
    two, _csrf = await world.signed_in(admin.email, password)
    try:
        await _change(world, admin, active=False)
        await _change(world, admin, active=True)
        # Reactivated, but the sessions that were open stay closed: sign in again.
        assert await _partner_page(one) == 303
        assert await _partner_page(two) == 303
        again, _csrf = await world.signed_in(admin.email, password)
        assert await _partner_page(again) == 200
        await again.aclose()
    finally:
        await one.aclose()
        await two.aclose()


async def _org_user(world: World) -> tuple[Customer, OrgUser]:
    customer, user = await make_org(world.db, world.a, name="Alpha Org")
    await give_password(world.db, user)
    return customer, user


async def _org_signed_in(world: World, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    client = world.client()
    response = await password_signin(client, email, password)
    assert response.status_code == 303 and response.headers["location"] == "/org", response.text
    return client


async def _in_org(client: httpx.AsyncClient) -> bool:
    """True while the client's customer-portal session is signed in."""
    response = await client.get("/org")
    assert response.status_code == 303
    return response.headers["location"].startswith("/org/")


async def test_a_password_reset_ends_every_session_of_the_user(world: World) -> None:
    _customer, user = await _org_user(world)
    one = await _org_signed_in(world, user.email)
    two = await _org_signed_in(world, user.email)
    try:
        assert await _in_org(one) and await _in_org(two)
        async with world.client() as anonymous:
            page = await anonymous.get("/signin/forgot")
            sent = await anonymous.post(
                "/signin/forgot", data={"csrf_token": csrf_of(page.text), "email": user.email}
            )
            assert sent.status_code == 200
            (message,) = await world.mailbox.wait_for(1)
            text = str(message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
            match = re.search(r"https?://[^/\s]+(/account/reset-password/[A-Za-z0-9_\-.]+)", text)
            assert match, text
            form = await anonymous.get(match.group(1))
            done = await anonymous.post(
                match.group(1),
                data={
                    "csrf_token": csrf_of(form.text),
                    "password": "a brand new password",
                    "confirm": "a brand new password",
                },
            )
            assert done.status_code == 303, done.text
        assert not await _in_org(one)
        assert not await _in_org(two)
    finally:
        await one.aclose()
        await two.aclose()
    fresh = await _org_signed_in(world, user.email, "a brand new password")
    await fresh.aclose()


async def test_a_password_change_ends_every_other_session_of_the_user(world: World) -> None:
    customer, user = await _org_user(world)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    one = await _org_signed_in(world, user.email)
    two = await _org_signed_in(world, user.email)
    try:
        account = await one.get(f"/org/{ref}/account")
        assert account.status_code == 200
        changed = await one.post(
            f"/org/{ref}/account/password",
            data={
                "csrf_token": csrf_of(account.text),
                "current": PASSWORD,
                "password": "another long password",
                "confirm": "another long password",
            },
        )
        assert changed.status_code == 200, changed.text
        assert await _in_org(one)  # the session that changed it stays
        assert not await _in_org(two)
    finally:
        await one.aclose()
        await two.aclose()
    fresh = await _org_signed_in(world, user.email, "another long password")
    await fresh.aclose()


async def test_a_totp_change_ends_every_other_session_of_the_user(world: World) -> None:
    customer, user = await _org_user(world)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    one = await _org_signed_in(world, user.email)
    two = await _org_signed_in(world, user.email)
    try:
        account = await one.get(f"/org/{ref}/account")
        csrf = csrf_of(account.text)
        begin = await one.post(
            f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "begin"}
        )
        assert begin.status_code == 200, begin.text
        # Only starting the enrolment changes nothing yet.
        assert await _in_org(two)
        secret = begin.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
        totp = pyotp.TOTP(secret)
        code = totp.generate_otp(totp.timecode(time.time()) - 1)  # type: ignore[arg-type]
        on = await one.post(
            f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "confirm", "code": code}
        )
        assert 'id="totp-on"' in on.text, on.text
        assert await _in_org(one)
        assert not await _in_org(two)
    finally:
        await one.aclose()
        await two.aclose()
