"""Setting up a customer in the portal (S22-S24): "Set up customer", "Add users" (the
customer's own users page, the partner's visit audited), "Add users (wholesale)" and
"Assign numbers", change package (the administrator rule), the user list's search and pages,
numbers added to a location's inventory; CSRF, roles and tenant isolation on every page."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.conftest import bearer, csrf_of, portal_login
from tests.customers.portal.helpers import (
    audit_actions,
    post,
    row_error,
    rows,
    scalar,
    unescape,
    users_of,
)
from tests.factories import LOC_WRITE, Setup, Tenant, give_password, make_customer, number
from tests.identity.org.conftest import PASSWORD, password_signin
from tests.portal.helpers import browser_session

ANN = {
    "first_name": "Ann",
    "last_name": "Meet",
    "email": "ann@customer.example",
    "package": "webex_meetings",
}
BOB = {"first_name": "Bob", "last_name": "Call", "email": "bob@customer.example"}


def bob(**calling: str) -> dict[str, str]:
    return {**BOB, "package": "webex_calling", **calling}


def ref(setup: Setup) -> str:
    return ids.encode("CUSTOMER", setup.customer.id, "us")


async def count_users(db: Database, setup: Setup) -> int:
    return int(
        await scalar(
            db, "SELECT count(*) FROM org_users WHERE customer_id = :c", c=setup.customer.id
        )
    )


def number_choices(html: str) -> list[str]:
    import re

    block = re.search(r'<select id="phone_number-\d+"[^>]*>(.*?)</select>', html, re.S)
    assert block, html
    return re.findall(r'<option value="(\+[0-9]+)"', block.group(1))


async def test_set_up_customer_page_and_add_users_entry(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    detail = await client.get(f"/customers/{cid}")
    assert f'href="/customers/{cid}/setup" id="set-up-customer">Set up customer<' in detail.text
    page = await client.get(f"/customers/{cid}/setup")
    assert page.status_code == 200
    assert f'href="/customers/{cid}/setup/users" id="setup-add-users">Add users<' in page.text
    assert '<td class="available">5</td>' in page.text
    assert '<td class="assigned">0</td>' in page.text

    # "Add users" opens the customer's own users page; the partner's visit is recorded
    opened = await client.get(f"/customers/{cid}/setup/users")
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/org/{cid}/users"
    users = await client.get(opened.headers["location"])
    assert 'id="acting-banner"' in users.text
    assert tenant.admin.email in users.text
    assert f'href="/org/{cid}/users/add-wholesale" id="add-users-wholesale"' in users.text
    [event] = await audit_actions(db, setup.customer.id)
    assert event["action"] == "portal.open"
    assert event["actorType"] == "partner_admin"
    assert event["actorEmail"] == tenant.admin.email


async def test_set_up_waits_for_provisioning(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    busy = await make_customer(db, tenant, status="provisioning")
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(busy)
    assert "set-up-customer" not in (await client.get(f"/customers/{cid}")).text
    page = await client.get(f"/customers/{cid}/setup")
    assert "Users can be added once the customer is provisioned" in page.text
    assert "setup-add-users" not in page.text
    refused = await post(
        client, csrf, f"/org/{cid}/users/add-wholesale", {**rows(ANN), "action": "next"}
    )
    assert refused.status_code == 409
    assert "once the customer is provisioned" in unescape(refused.text)
    assert await count_users(db, busy) == 0


async def test_add_users_with_assign_numbers(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    first = await client.get(f"/org/{cid}/users/add-wholesale")
    assert first.status_code == 200
    for label in ("First name", "Last name", "Email address", "Package"):
        assert f'aria-label="{label}"' in first.text
    # Only the customer's packages are offered
    assert '<option value="webex_suite" >' in first.text
    assert "cx_essentials" not in first.text

    # Next: the calling user goes on to "Assign numbers"; nothing is written yet
    step = await post(
        client, csrf, f"/org/{cid}/users/add-wholesale", {**rows(ANN, bob()), "action": "next"}
    )
    assert step.status_code == 200, step.text
    assert 'id="assign-numbers"' in step.text
    assert 'data-email="bob@customer.example"' in step.text
    assert 'data-email="ann@customer.example"' not in step.text
    assert number_choices(step.text) == [number(i) for i in range(1, 6)]
    assert f'<option value="{setup.hq_id}" selected>Headquarters</option>' in step.text
    assert await count_users(db, setup) == 0

    done = await post(
        client,
        csrf,
        f"/org/{cid}/users/assign-numbers",
        {
            **rows(ANN, bob(location=setup.hq_id, phone_number=number(3), extension="203")),
            "action": "assign",
        },
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/org/{cid}/users?notice=users_added&count=2"
    ann, bob_row = await users_of(db, setup.customer.id)
    assert (ann["package"], ann["phone_number"], ann["location_id"]) == (
        "webex_meetings",
        None,
        None,
    )
    assert (bob_row["first_name"], bob_row["package"], bob_row["phone_number"]) == (
        "Bob",
        "webex_calling",
        number(3),
    )
    assert bob_row["extension"] == "203"
    assert setup.hq is not None and bob_row["location_id"] == setup.hq.id
    listing = await client.get(done.headers["location"])
    assert "Users added: 2" in listing.text
    assert number(3) in listing.text

    # Each new user is invited; each addition is recorded with the partner admin as actor
    invited = await scalar(
        db,
        "SELECT count(*) FROM outbox_emails WHERE customer_id = :c AND to_address IN "
        "('ann@customer.example', 'bob@customer.example')",
        c=setup.customer.id,
    )
    assert invited == 2
    added = [e for e in await audit_actions(db, setup.customer.id) if e["action"] == "user.add"]
    assert sorted(e["email"] for e in added) == ["ann@customer.example", "bob@customer.example"]
    assert {e["actorEmail"] for e in added} == {tenant.admin.email}

    # The number is no longer offered, and the set-up page counts it as assigned
    again = await post(
        client,
        csrf,
        f"/org/{cid}/users/add-wholesale",
        {**rows(bob(email="carl@customer.example")), "action": "next"},
    )
    assert number_choices(again.text) == [number(i) for i in (1, 2, 4, 5)]
    setup_page = await client.get(f"/customers/{cid}/setup")
    assert '<td class="available">4</td>' in setup_page.text
    assert '<td class="assigned">1</td>' in setup_page.text


async def test_rows_are_checked_by_the_subscriber_rules(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    url = f"/org/{cid}/users/add-wholesale"
    taken = OrgUser(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        customer_id=setup.customer.id,
        org_id=setup.customer.org_id,
        email="taken@customer.example",
        roles=[],
        package="webex_meetings",
        status="provisioned",
    )
    async with db.transaction() as session:
        session.add(taken)
    refused = await post(
        client,
        csrf,
        url,
        {
            **rows(
                {**ANN, "package": ""},
                {**ANN, "email": "not-an-email"},
                {**ANN, "email": "dup@customer.example"},
                {**ANN, "email": "dup@customer.example"},
                {**ANN, "email": "taken@customer.example"},
                {**ANN, "email": "cx@customer.example", "package": "cx_essentials"},
                {**ANN, "email": "fine@customer.example"},
            ),
            "action": "next",
        },
    )
    assert refused.status_code == 400
    html = refused.text
    assert row_error(html, 0, "package") == "Choose a package"
    assert "'not-an-email' is not a valid email address" in (row_error(html, 1, "email") or "")
    assert row_error(html, 2, "email") is None
    assert "'dup@customer.example' already belongs to a user" in (row_error(html, 3, "email") or "")
    assert "'taken@customer.example' already belongs to a user" in (
        row_error(html, 4, "email") or ""
    )
    assert "Customer Assist is not one of the customer's packages" in (
        row_error(html, 5, "package") or ""
    )
    assert row_error(html, 6, "email") is None
    # What was typed is kept
    assert 'name="email-6" type="email" aria-label="Email address (user 7)" value="fine@' in html
    assert await count_users(db, setup) == 1

    # The limit of a package is the customer's (provisioningParameters.packages.limits)
    limited = await make_customer(db, tenant, limits={"webex_meetings": 1})
    over = await post(
        client,
        csrf,
        f"/org/{ref(limited)}/users/add-wholesale",
        {
            **rows(ANN, {**ANN, "email": "second@customer.example"}),
            "action": "next",
        },
    )
    assert over.status_code == 400
    assert "limit for Webex Meetings is reached (1 of 1" in unescape(over.text)
    assert await count_users(db, limited) == 0


async def test_assign_numbers_refusals_write_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    url = f"/org/{cid}/users/assign-numbers"
    # A calling user needs a number (or an extension)
    refused = await post(
        client, csrf, url, {**rows(ANN, bob(location=setup.hq_id)), "action": "assign"}
    )
    assert refused.status_code == 400
    assert 'id="assign-numbers"' in refused.text
    assert row_error(refused.text, 1, "phone_number") == (
        "Phone number: users with a calling package need a phone number or an extension"
    )
    # Two users cannot take the same number; a number outside the inventory is refused
    twice = await post(
        client,
        csrf,
        url,
        {
            **rows(
                bob(location=setup.hq_id, phone_number=number(1)),
                bob(email="eve@customer.example", location=setup.hq_id, phone_number=number(1)),
                bob(email="joe@customer.example", location=setup.hq_id, phone_number=number(99)),
            ),
            "action": "assign",
        },
    )
    assert twice.status_code == 400
    assert row_error(twice.text, 0, "phone_number") is None
    # the refusal names the real cause: the first row chose it, nobody holds it yet
    assert row_error(twice.text, 1, "phone_number") == (
        f"{number(1)} is already chosen for {BOB['email']} in this form"
    )
    assert f"{number(99)} is not among the customer's numbers" in (
        row_error(twice.text, 2, "phone_number") or ""
    )
    # The typed choices are kept
    assert f'<option value="{number(1)}" selected>' in twice.text
    # A number of another location is refused for this location
    token = await tenant.token(LOC_WRITE, "partnerhub:numbers_write")
    other = await client.post(
        "/v1/locations",
        json={
            "orgId": setup.org,
            "name": "Branch",
            "timeZone": "America/New_York",
            "preferredLanguage": "en_us",
            "address": {
                "address1": "1 Main St",
                "city": "Boston",
                "state": "MA",
                "postalCode": "02108",
                "country": "US",
            },
        },
        headers=bearer(token),
    )
    assert other.status_code == 201, other.text
    branch = other.json()["id"]
    added = await client.post(
        f"/v1/telephony/config/locations/{branch}/numbers",
        json={"phoneNumbers": ["+16175550100"]},
        headers=bearer(token),
    )
    assert added.status_code == 201, added.text
    wrong = await post(
        client,
        csrf,
        url,
        {**rows(bob(location=setup.hq_id, phone_number="+16175550100")), "action": "assign"},
    )
    assert wrong.status_code == 400
    assert "belongs to another location, not to Headquarters" in unescape(
        row_error(wrong.text, 0, "phone_number") or ""
    )
    # Both locations are offered, each with its own numbers
    assert '<optgroup label="Branch" data-location="' in wrong.text
    right = await post(
        client,
        csrf,
        url,
        {**rows(bob(location=branch, phone_number="+16175550100")), "action": "assign"},
    )
    assert right.status_code == 303, right.text
    [bob_row] = await users_of(db, setup.customer.id)
    assert bob_row["phone_number"] == "+16175550100"
    assert bob_row["location_id"] == ids.decode("LOCATION", branch)


async def test_more_rows_back_and_at_most_25(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    url = f"/org/{cid}/users/add-wholesale"
    more = await post(client, csrf, url, {**rows(ANN), "action": "more"})
    assert more.status_code == 200
    assert 'value="ann@customer.example"' in more.text
    assert 'aria-label="First name (user 2)"' in more.text
    assert 'aria-label="First name (user 3)"' not in more.text
    # Back from "Assign numbers" keeps the rows and the calling choices
    back = await post(
        client,
        csrf,
        f"/org/{cid}/users/assign-numbers",
        {**rows(ANN, bob(location=setup.hq_id, phone_number=number(2))), "action": "back"},
    )
    assert 'value="bob@customer.example"' in back.text
    assert f'name="phone_number-1" value="{number(2)}"' in back.text
    too_many = [{**ANN, "email": f"u{i}@customer.example"} for i in range(26)]
    refused = await post(client, csrf, url, {**rows(*too_many), "action": "next"})
    assert refused.status_code == 400
    assert "At most 25 users at a time" in refused.text
    empty = await post(client, csrf, url, {**rows({"email": ""}), "action": "next"})
    assert empty.status_code == 400 and "Enter at least one user" in empty.text
    full = [{**ANN, "email": f"u{i}@customer.example"} for i in range(25)]
    done = await post(client, csrf, url, {**rows(*full), "action": "next"})
    assert done.status_code == 303, done.text
    assert await count_users(db, setup) == 25


async def test_numbers_added_to_a_location(
    app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    # On the set-up page: numbers and ranges, all or nothing
    bad = await post(
        client,
        csrf,
        f"/customers/{cid}/setup/numbers",
        {"location": setup.hq_id, "numbers": "+14155550100, +390212345601"},
    )
    assert bad.status_code == 400
    assert "+390212345601 is not a number of the country United States" in unescape(bad.text)
    assert "+14155550100, +390212345601</textarea>" in bad.text
    ok = await post(
        client,
        csrf,
        f"/customers/{cid}/setup/numbers",
        {"location": setup.hq_id, "numbers": "+14155550100..102\n+14155550110"},
    )
    assert ok.status_code == 303
    page = await client.get(ok.headers["location"])
    assert "Numbers added to the inventory" in page.text
    assert '<td class="available">9</td>' in page.text
    held = await post(
        client,
        csrf,
        f"/customers/{cid}/setup/numbers",
        {"location": setup.hq_id, "numbers": "+14155550110"},
    )
    assert held.status_code == 409
    # Inside "Assign numbers", without losing the rows
    inline = await post(
        client,
        csrf,
        f"/org/{cid}/users/assign-numbers",
        {
            **rows(bob()),
            "action": "add_numbers",
            "add_location": setup.hq_id,
            "add_numbers": "+14155550120",
        },
    )
    assert inline.status_code == 200
    assert "Numbers added to the inventory" in inline.text
    assert "+14155550120" in number_choices(inline.text)
    assert 'name="email-0" value="bob@customer.example"' in inline.text
    assert "numbers.add" in [e["action"] for e in await audit_actions(db, setup.customer.id)]
    # A read-only partner administrator can look, not add
    viewer, password = await tenant.add_admin("read_only")
    async with browser_session(app) as ro:
        ro_csrf = await portal_login(ro, viewer.email, password)
        assert (await ro.get(f"/customers/{cid}/setup")).status_code == 200
        refused = await post(
            ro,
            ro_csrf,
            f"/customers/{cid}/setup/numbers",
            {"location": setup.hq_id, "numbers": "+14155550130"},
        )
        assert refused.status_code == 403
        assert (await ro.get(f"/org/{cid}/users/add-wholesale")).status_code == 403
    total = await scalar(
        db, "SELECT count(*) FROM phone_numbers WHERE customer_id = :c", c=setup.customer.id
    )
    assert total == 10


async def test_change_package_and_the_administrator_rule(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    setup = await make_customer(
        db, tenant, numbers=[number(i) for i in range(1, 4)], admin_package="webex_suite"
    )
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    await post(client, csrf, f"/org/{cid}/users/add-wholesale", {**rows(ANN), "action": "next"})
    users = await users_of(db, setup.customer.id)
    admin = next(u for u in users if u["email"].startswith("admin-"))
    async with db.transaction() as session:
        from sqlalchemy import select

        ann = (
            await session.execute(select(OrgUser).where(OrgUser.email == ANN["email"]))
        ).scalar_one()
        admin_user = (
            await session.execute(select(OrgUser).where(OrgUser.email == admin["email"]))
        ).scalar_one()
    ann_url = f"/org/{cid}/users/{ids.encode('PEOPLE', ann.id, 'us')}/package"
    form = await client.get(ann_url)
    assert form.status_code == 200
    assert '<option value="webex_meetings" selected>' in form.text
    # To a calling package: a number is needed, then given
    refused = await post(client, csrf, ann_url, {"package": "webex_calling"})
    assert refused.status_code == 400
    assert "users with a calling package need a phone number or an extension" in unescape(
        refused.text
    )
    changed = await post(
        client,
        csrf,
        ann_url,
        {"package": "webex_calling", "location": setup.hq_id, "phone_number": number(2)},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/org/{cid}/users?notice=package_changed"
    ann_row = next(u for u in await users_of(db, setup.customer.id) if u["email"] == ANN["email"])
    assert (ann_row["package"], ann_row["phone_number"]) == ("webex_calling", number(2))
    # Back to meetings releases the number
    back = await post(client, csrf, ann_url, {"package": "webex_meetings"})
    assert back.status_code == 303
    ann_row = next(u for u in await users_of(db, setup.customer.id) if u["email"] == ANN["email"])
    assert (ann_row["package"], ann_row["phone_number"]) == ("webex_meetings", None)

    # The full administrator's package cannot be lowered: refused, with the reason
    admin_url = f"/org/{cid}/users/{ids.encode('PEOPLE', admin_user.id, 'us')}/package"
    page = await client.get(admin_url)
    assert "a full administrator&#39;s package cannot be lowered" in page.text
    lowered = await post(client, csrf, admin_url, {"package": "webex_meetings"})
    assert lowered.status_code == 400
    assert (  # next to the field, in the portal's words (product names, not ids)
        '<p class="field-error" id="package-error" role="alert">Package: the package of this '
        "user (Full administrator) cannot be lowered from Webex Suite to Webex Meetings</p>"
        in lowered.text
    )
    admin_row = next(
        u for u in await users_of(db, setup.customer.id) if u["email"] == admin["email"]
    )
    assert admin_row["package"] == "webex_suite"
    assert "user.package" in [e["action"] for e in await audit_actions(db, setup.customer.id)]


async def test_user_list_search_and_pages(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    async with db.transaction() as session:
        for i in range(105):
            session.add(
                OrgUser(
                    id=uuid.uuid4(),
                    partner_id=tenant.partner.id,
                    customer_id=setup.customer.id,
                    org_id=setup.customer.org_id,
                    email=f"user{i:03d}@customer.example",
                    first_name="Giulia" if i == 42 else "User",
                    last_name=f"N{i:03d}",
                    roles=[],
                    package="webex_meetings",
                    status="provisioned",
                )
            )
    await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    first = await client.get(f"/org/{cid}/users")
    assert first.text.count('<tr data-email="user') == 100
    assert f'href="/org/{cid}/users?offset=100"' in first.text
    second = await client.get(f"/org/{cid}/users?offset=100")
    assert second.text.count('<tr data-email="user') == 5
    assert 'rel="prev"' in second.text
    by_name = await client.get(f"/org/{cid}/users", params={"q": "giulia"})
    assert by_name.text.count('<tr data-email="user') == 1
    assert 'data-email="user042@customer.example"' in by_name.text
    by_email = await client.get(f"/org/{cid}/users", params={"q": "USER10"})
    assert by_email.text.count('<tr data-email="user') == 5
    nothing = await client.get(f"/org/{cid}/users", params={"q": "100%"})
    assert "No user matches." in nothing.text


async def test_every_setup_form_needs_the_csrf_token(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    cid = ref(setup)
    uid = ids.encode("PEOPLE", uuid.uuid4(), "us")
    forms = {
        f"/customers/{cid}/setup/numbers": {"location": setup.hq_id, "numbers": "+14155550100"},
        f"/org/{cid}/users/add-wholesale": {**rows(ANN), "action": "next"},
        f"/org/{cid}/users/assign-numbers": {**rows(ANN), "action": "assign"},
        f"/org/{cid}/users/{uid}/package": {"package": "webex_meetings"},
    }
    for url, fields in forms.items():
        for token in (None, "forged"):
            data = fields if token is None else {**fields, "csrf_token": token}
            answer = await client.post(url, data=data)
            assert answer.status_code == 403, (url, token, answer.status_code)
    assert await count_users(db, setup) == 0
    assert (
        await scalar(db, "SELECT count(*) FROM phone_numbers WHERE phone_number = '+14155550100'")
        == 0
    )


async def test_other_tenants_get_404_on_every_setup_page(
    app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    setup = await make_customer(db, tenant, numbers=[number(1)], admin_package="webex_suite")
    cid = ref(setup)
    [admin] = await users_of(db, setup.customer.id)
    async with db.transaction() as session:
        from sqlalchemy import select

        admin_id = (
            await session.execute(select(OrgUser.id).where(OrgUser.email == admin["email"]))
        ).scalar_one()
    uid = ids.encode("PEOPLE", admin_id, "us")
    gets = [
        f"/customers/{cid}",
        f"/customers/{cid}/status",
        f"/customers/{cid}/delete",
        f"/customers/{cid}/setup",
        f"/customers/{cid}/setup/users",
        f"/org/{cid}/users",
        f"/org/{cid}/users/add-wholesale",
        f"/org/{cid}/users/{uid}/package",
    ]
    posts = {
        f"/customers/{cid}/packages": {"packages": "webex_meetings"},
        f"/customers/{cid}/delete": {},
        f"/customers/{cid}/approve": {},
        f"/customers/{cid}/setup/numbers": {"location": setup.hq_id, "numbers": "+14155550100"},
        f"/org/{cid}/users/add-wholesale": {**rows(ANN), "action": "next"},
        f"/org/{cid}/users/assign-numbers": {
            **rows(bob(location=setup.hq_id, phone_number=number(1))),
            "action": "assign",
        },
        f"/org/{cid}/users/{uid}/package": {"package": "webex_meetings"},
    }
    # Another partner's administrator
    async with browser_session(app) as other:
        other_csrf = await portal_login(other, other_tenant.admin.email, other_tenant.password)
        for url in gets:
            assert (await other.get(url)).status_code == 404, url
        for url, fields in posts.items():
            answer = await other.post(url, data={**fields, "csrf_token": other_csrf})
            assert answer.status_code == 404, url
    # An administrator of another customer of the same partner
    neighbour = await make_customer(db, tenant)
    stranger = OrgUser(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        customer_id=neighbour.customer.id,
        org_id=neighbour.customer.org_id,
        email="boss@neighbour.example",
        roles=["user_admin"],
        package="webex_suite",
        status="provisioned",
    )
    async with db.transaction() as session:
        session.add(stranger)
    await give_password(db, stranger)
    async with browser_session(app) as org_client:
        assert (await password_signin(org_client, stranger.email, PASSWORD)).status_code == 303
        own = await org_client.get(f"/org/{ref(neighbour)}/users/add-wholesale")
        assert own.status_code == 200  # a user administrator adds users in their own organization
        org_csrf = csrf_of(own.text)
        for url in gets[5:]:
            assert (await org_client.get(url)).status_code == 404, url
        for url, fields in list(posts.items())[4:]:
            answer = await org_client.post(url, data={**fields, "csrf_token": org_csrf})
            assert answer.status_code == 404, url
    assert [u["email"] for u in await users_of(db, setup.customer.id)] == [admin["email"]]
    owner = await scalar(db, "SELECT count(*) FROM org_users WHERE phone_number = :n", n=number(1))
    assert owner == 0
