"""Issue 10, item 3: one identity per e-mail address.

A partner administrator record can never shadow a user of a customer organization (or the
reverse): creating one with an e-mail the other kind holds is refused (409 ``10022``) on every
path (hub API, partner portal, subscribers API, customers API), so another
tenant's data can never change where ``/signin`` sends a person; concurrent creations cannot
both win (the database guarantees it, migration ``identity_emails``).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx

from partnerhub import ids
from partnerhub.models import Customer, OrgUser
from tests.conftest import assert_error, bearer, csrf_of
from tests.customers.helpers import BASE as CUSTOMERS
from tests.factories import Tenant, create_template, give_password, make_org, meetings_body
from tests.identity.org.conftest import PASSWORD, password_signin
from tests.reliability.trust.conftest import World

ADMINS = "/v1/partner/administrators"
SUBSCRIBERS = "/v1/wholesale/subscribers"
SUBSCRIBERS_WRITE = "spark-admin:wholesale_subscribers_write"
CUSTOMERS_WRITE = "spark-admin:wholesale_customers_write"


async def _victim(world: World, tenant: Tenant, email: str) -> tuple[Customer, OrgUser]:
    """A user of one of ``tenant``'s organizations, with a platform password."""
    customer, user = await make_org(world.db, tenant, user_email=email, name="Victim")
    await give_password(world.db, user)
    return customer, user


async def _signs_in_to_org(world: World, email: str) -> None:
    async with world.client() as client:
        response = await password_signin(client, email, PASSWORD)
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/org"), response.headers
        assert (await client.get("/org")).status_code == 303  # to the user's own pages


async def _admin_emails(world: World, tenant: Tenant) -> set[str]:
    token = await tenant.token("partnerhub:admin")
    async with world.client() as client:
        listed = await client.get(ADMINS, headers=bearer(token))
    assert listed.status_code == 200, listed.text
    return {a["email"].lower() for a in listed.json()["items"]}


async def test_a_partner_admin_with_another_partners_customer_users_email_is_refused(
    world: World,
) -> None:
    email = f"victim-{uuid.uuid4().hex[:6]}@org-a.example"
    await _victim(world, world.a, email)
    token = await world.b.token("partnerhub:admin")
    async with world.client() as client:
        response = await client.post(
            ADMINS,
            json={"email": email.upper(), "role": "admin", "password": "a-long-password-1"},
            headers=bearer(token),
        )
    assert_error(response, 409, 10022)
    assert email not in await _admin_emails(world, world.b)
    # The user of Alpha's organization still signs in to their organization.
    await _signs_in_to_org(world, email)


async def test_the_partner_portal_refuses_an_administrator_with_a_customer_users_email(
    world: World,
) -> None:
    email = f"victim-{uuid.uuid4().hex[:6]}@org-a.example"
    await _victim(world, world.a, email)
    client, csrf = await world.signed_in(world.b.admin.email, world.b.password)
    try:
        response = await client.post(
            "/settings/administrators",
            data={
                "csrf_token": csrf,
                "email": email,
                "display_name": "Shadow",
                "role": "full_admin",
                "password": "a-long-password-1",
            },
        )
        assert response.status_code == 409, response.text
    finally:
        await client.aclose()
    assert email not in await _admin_emails(world, world.b)
    await _signs_in_to_org(world, email)


async def test_a_partner_admin_cannot_take_the_email_of_a_user_waiting_to_move(
    world: World,
) -> None:
    """Every user row counts, a ``pending_user_migration`` subscriber's too."""
    email = f"mover-{uuid.uuid4().hex[:6]}@org-b.example"
    await make_org(world.db, world.b, user_email=email, roles=[], name="Beta Org")
    customer, _user = await make_org(world.db, world.a, name="Mover")
    token = await world.a.token(SUBSCRIBERS_WRITE)
    async with world.client() as client:
        pending = await client.post(
            SUBSCRIBERS,
            json={
                "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
                "email": email,
                "package": "webex_meetings",
            },
            headers=bearer(token),
        )
        assert pending.status_code == 202, pending.text
        response = await client.post(
            ADMINS,
            json={"email": email, "role": "read_only", "password": "a-long-password-1"},
            headers=bearer(await world.sub.token("partnerhub:admin")),
        )
    assert_error(response, 409, 10022)


async def test_a_subscriber_with_a_partner_admins_email_is_refused(world: World) -> None:
    """The subscribers POST and the precheck refuse it."""
    customer, _user = await make_org(world.db, world.b, name="Beta Org")
    token = await world.b.token(SUBSCRIBERS_WRITE)
    body = {
        "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
        "email": world.a.admin.email.upper(),
        "package": "webex_meetings",
    }
    async with world.client() as client:
        response = await client.post(SUBSCRIBERS, json=body, headers=bearer(token))
        assert_error(response, 409, 10022)
        precheck = await client.post(f"{SUBSCRIBERS}/validate", json=body, headers=bearer(token))
        assert_error(precheck, 409, 10022)
        listed = await client.get(
            SUBSCRIBERS,
            params={"email": world.a.admin.email},
            headers=bearer(await world.b.token("spark-admin:wholesale_subscribers_read")),
        )
    assert listed.json()["items"] == []
    # Alpha's administrator still signs in to the partner portal, through /signin too.
    client, _csrf = await world.signed_in(world.a.admin.email, world.a.password)
    await client.aclose()


async def test_the_customer_portal_refuses_a_user_with_a_partner_admins_email(
    world: World,
) -> None:
    email = f"boss-{uuid.uuid4().hex[:6]}@org-b.example"
    customer, _user = await _victim(world, world.b, email)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    async with world.client() as client:
        assert (await password_signin(client, email, PASSWORD)).status_code == 303
        page = await client.get(f"/org/{ref}/users")
        assert page.status_code == 200, page.text
        response = await client.post(
            f"/org/{ref}/users",
            data={
                "csrf_token": csrf_of(page.text),
                "email": world.sub.admin.email,
                "package": "webex_meetings",
            },
        )
    assert response.status_code == 409, response.text


async def test_a_customer_whose_first_administrator_is_a_partner_admin_is_refused(
    world: World,
) -> None:
    async with world.client() as client:
        template = await create_template(client, world.b, country="US")
        body = meetings_body(template["provisioningId"], "shadow")
        body["customerInfo"]["primaryEmail"] = world.a.admin.email
        token = await world.b.token(CUSTOMERS_WRITE)
        response = await client.post(CUSTOMERS, json=body, headers=bearer(token))
    error = assert_error(response, 409, 10022)
    assert "customerInfo.primaryEmail" in str(error["message"])


async def test_concurrent_creations_of_both_kinds_never_both_win(world: World) -> None:
    """Beta creates an administrator while Alpha creates a subscriber with the same email, at
    the same moment: at most one of them succeeds, each time."""
    customer, _user = await make_org(world.db, world.a, name="Race")
    admin_token = await world.b.token("partnerhub:admin")
    subscriber_token = await world.a.token(SUBSCRIBERS_WRITE)

    async def admin(client: httpx.AsyncClient, email: str) -> int:
        response = await client.post(
            ADMINS,
            json={"email": email, "role": "read_only", "password": "a-long-password-1"},
            headers=bearer(admin_token),
        )
        return response.status_code

    async def subscriber(client: httpx.AsyncClient, email: str) -> int:
        response = await client.post(
            SUBSCRIBERS,
            json={
                "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
                "email": email,
                "package": "webex_meetings",
            },
            headers=bearer(subscriber_token),
        )
        return response.status_code

    async with world.client() as one, world.client() as two:
        for n in range(12):
            email = f"race-{n}-{uuid.uuid4().hex[:6]}@race.example"
            made_admin, made_user = await asyncio.gather(admin(one, email), subscriber(two, email))
            assert {made_admin, made_user} <= {201, 200, 409}, (made_admin, made_user)
            assert not (made_admin == 201 and made_user == 200), email
