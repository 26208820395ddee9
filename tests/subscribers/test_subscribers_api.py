"""Wholesale subscribers (CONTRACT section 4): every rule and error code, the lifecycle, the
precheck variants, pending_user_migration with consentMove, scopes and tenant isolation."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OrgUser, OutboxEmail
from tests.conftest import assert_error, bearer
from tests.factories import (
    NUM_WRITE,
    SUB_READ,
    SUB_WRITE,
    Setup,
    Tenant,
    add_numbers,
    give_password,
    make_customer,
    make_tenant,
    number,
)
from tests.identity.org.conftest import PASSWORD, password_signin

URL = "/v1/wholesale/subscribers"


def body_for(setup: Setup, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": setup.id,
        "email": "john.andersen@customer.example",
        "packages": ["webex_calling"],
        "provisioningParameters": {
            "firstName": "John",
            "lastName": "Andersen",
            "primaryPhoneNumber": number(100),
            "extension": "5221",
        },
    }
    body.update(overrides)
    return body


def params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture
async def token(tenant: Tenant) -> str:
    return await tenant.token(SUB_WRITE, NUM_WRITE, "partnerhub:locations_write")


@pytest.fixture
async def stocked(client: httpx.AsyncClient, setup: Setup, token: str) -> Setup:
    """The customer's HQ holds numbers +1 415 555 0100..0109."""
    await add_numbers(client, token, setup.hq_id, [f"{number(100)}..0109"])
    return setup


async def count_users(db: Database) -> int:
    async with db.transaction() as session:
        return len((await session.execute(select(OrgUser.id))).all())


async def test_lifecycle(client: httpx.AsyncClient, stocked: Setup, token: str) -> None:
    created = await client.post(URL, json=body_for(stocked), headers=bearer(token))
    assert created.status_code == 200, created.text
    sub = created.json()
    assert ids.decode("SUBSCRIBER", sub["id"]) is not None
    assert ids.decode("PEOPLE", sub["personId"]) == ids.decode("SUBSCRIBER", sub["id"])
    assert sub["email"] == "john.andersen@customer.example"
    assert sub["customerId"] == stocked.id
    assert sub["externalCustomerId"] == stocked.customer.external_id
    assert sub["package"] == "webex_calling"
    assert sub["packages"] == ["webex_calling"]
    assert sub["status"] == "provisioned"
    assert sub["errors"] == []
    assert sub["primaryPhoneNumber"] == number(100)
    assert sub["extension"] == "5221"
    assert sub["locationId"] == stocked.hq_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sub["created"])
    assert created.headers["Location"] == f"https://testserver{URL}/{sub['id']}"

    got = await client.get(f"{URL}/{sub['id']}", headers=bearer(token))
    assert got.status_code == 200
    assert got.json() == sub

    # PUT to a meetings-only package releases the number and the extension.
    changed = await client.put(
        f"{URL}/{sub['id']}", json={"package": "webex_meetings"}, headers=bearer(token)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["packages"] == ["webex_meetings"]
    assert "primaryPhoneNumber" not in changed.json()
    available = await client.get(
        "/v1/telephony/config/numbers",
        params={"available": "true", "phoneNumber": number(100)},
        headers=bearer(await stocked.tenant.token("partnerhub:numbers_read")),
    )
    assert len(available.json()["phoneNumbers"]) == 1

    # Back to calling: a number or an extension is needed again.
    refused = await client.put(
        f"{URL}/{sub['id']}", json={"packages": ["webex_suite"]}, headers=bearer(token)
    )
    assert_error(refused, 400, 1009)
    back = await client.put(
        f"{URL}/{sub['id']}",
        json={"packages": ["webex_suite"], "provisioningParameters": {"extension": "7000"}},
        headers=bearer(token),
    )
    assert back.status_code == 200, back.text
    assert back.json()["extension"] == "7000"
    assert back.json()["locationId"] == stocked.hq_id

    deleted = await client.delete(f"{URL}/{sub['id']}", headers=bearer(token))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await client.get(f"{URL}/{sub['id']}", headers=bearer(token)), 404, 1100)
    assert_error(await client.delete(f"{URL}/{sub['id']}", headers=bearer(token)), 404, 1100)


async def test_deleting_releases_the_number(
    client: httpx.AsyncClient, stocked: Setup, token: str
) -> None:
    first = await client.post(URL, json=body_for(stocked), headers=bearer(token))
    taken = await client.post(
        URL, json=body_for(stocked, email="other@customer.example"), headers=bearer(token)
    )
    assert_error(taken, 400, 1013)
    await client.delete(f"{URL}/{first.json()['id']}", headers=bearer(token))
    again = await client.post(
        URL, json=body_for(stocked, email="other@customer.example"), headers=bearer(token)
    )
    assert again.status_code == 200, again.text
    assert again.json()["primaryPhoneNumber"] == number(100)


PP = "provisioningParameters"


@pytest.mark.parametrize(
    ("change", "status", "code", "needle"),
    [
        ({"customerId": None}, 400, 1002, "customerId"),
        ({"email": None}, 400, 1002, "email"),
        ({"email": "not-an-email"}, 400, 1003, "email"),
        ({"package": "webex_calling"}, 400, 1008, "exactly one"),
        ({"packages": None}, 400, 1008, "exactly one"),
        ({"packages": ["webex_calling", "webex_meetings"]}, 400, 1008, "exactly one package"),
        ({"packages": ["common_area_calling"]}, 400, 1003, "not a subscriber package"),
        ({"packages": None, "package": "attendant_console"}, 400, 1003, "package"),
        ({"packages": ["webex_voice"]}, 400, 1003, "not one of the customer's packages"),
        ({PP: {"firstName": "J"}}, 400, 1009, "primaryPhoneNumber or an extension"),
        ({PP: {"primaryPhoneNumber": "12"}}, 400, 1013, "not a valid E.164"),
        ({PP: {"primaryPhoneNumber": number(500)}}, 400, 1013, "not in the customer's"),
        ({PP: {"extension": "1"}}, 400, 1003, "extension"),
        ({PP: {"extension": "12a4"}}, 400, 1003, "extension"),
        ({PP: {"extension": "1234", "locationId": "bm9wZQ"}}, 404, 1100, "locationId"),
        (
            {"packages": ["webex_meetings"], PP: {"primaryPhoneNumber": number(101)}},
            400,
            1003,
            "only calling packages",
        ),
        ({"customerId": ids.encode("CUSTOMER", uuid.uuid4(), "us")}, 404, 1100, "customer"),
        ({"surprise": True}, 400, 1003, "surprise"),
        ({PP: {"extension": "1234", "colour": "red"}}, 400, 1003, "colour"),
        ({"packages": "webex_calling"}, 400, 1003, "packages"),
    ],
)
async def test_rules(
    client: httpx.AsyncClient,
    db: Database,
    stocked: Setup,
    token: str,
    change: dict[str, Any],
    status: int,
    code: int,
    needle: str,
) -> None:
    body = body_for(stocked)
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    response = await client.post(URL, json=body, headers=bearer(token))
    problem = assert_error(response, status, code)
    assert needle in str(problem["message"]), problem
    assert await count_users(db) == 0


async def test_body_must_be_a_json_object(
    client: httpx.AsyncClient, stocked: Setup, token: str
) -> None:
    not_json = await client.post(
        URL, content=b"{nope", headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert_error(not_json, 400, 1001)
    array = await client.post(URL, json=[body_for(stocked)], headers=bearer(token))
    assert_error(array, 400, 1001)
    text = await client.post(
        URL, content=b"email=x", headers={**bearer(token), "Content-Type": "text/plain"}
    )
    assert_error(text, 415, 1401)


async def test_number_rules(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    # A second location with its own numbers.
    other_loc = await client.post(
        "/v1/locations",
        json={
            "orgId": stocked.org,
            "name": "Austin",
            "timeZone": "America/Chicago",
            "preferredLanguage": "en_US",
            "address": {
                "address1": "1 Congress Ave",
                "city": "Austin",
                "state": "TX",
                "postalCode": "73301",
                "country": "US",
            },
        },
        headers=bearer(token),
    )
    assert other_loc.status_code == 201, other_loc.text
    austin = other_loc.json()["id"]
    await add_numbers(client, token, austin, ["+15125550100"])

    # A number of another location than the chosen one (default HQ) → 1013.
    wrong_place = await client.post(
        URL,
        json=body_for(stocked, **{PP: {"primaryPhoneNumber": "+15125550100"}}),
        headers=bearer(token),
    )
    body = assert_error(wrong_place, 400, 1013)
    assert "another location" in str(body["message"])
    # ...but fine in its own location, with the same extension as an HQ user.
    await client.post(URL, json=body_for(stocked), headers=bearer(token))
    in_austin = await client.post(
        URL,
        json=body_for(
            stocked,
            email="tx@customer.example",
            **{
                PP: {
                    "primaryPhoneNumber": "+15125550100",
                    "extension": "5221",
                    "locationId": austin,
                }
            },
        ),
        headers=bearer(token),
    )
    assert in_austin.status_code == 200, in_austin.text
    assert in_austin.json()["locationId"] == austin

    # Same extension twice in one location → 409 1210.
    dup_ext = await client.post(
        URL,
        json=body_for(stocked, email="dup@customer.example", **{PP: {"extension": "5221"}}),
        headers=bearer(token),
    )
    assert_error(dup_ext, 409, 1210)

    # The main number belongs to the location.
    hq = (await client.get(f"/v1/locations/{stocked.hq_id}", headers=bearer(token))).json()
    fields = {k: hq[k] for k in ("name", "timeZone", "preferredLanguage", "address")}
    await client.put(
        f"/v1/locations/{stocked.hq_id}",
        json={**fields, "mainNumber": number(109)},
        headers=bearer(token),
    )
    main = await client.post(
        URL,
        json=body_for(
            stocked, email="m@customer.example", **{PP: {"primaryPhoneNumber": number(109)}}
        ),
        headers=bearer(token),
    )
    body = assert_error(main, 400, 1013)
    assert "main number" in str(body["message"])
    assert await count_users(db) == 2


async def test_no_calling_location(db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    setup = await make_customer(db, tenant, hq=False)
    token = await tenant.token(SUB_WRITE)
    response = await client.post(
        URL, json=body_for(setup, **{PP: {"extension": "1000"}}), headers=bearer(token)
    )
    assert_error(response, 400, 1006)
    meetings = await client.post(
        URL, json=body_for(setup, packages=["webex_meetings"], **{PP: {}}), headers=bearer(token)
    )
    assert meetings.status_code == 200, meetings.text


async def test_customer_must_be_provisioned(
    db: Database, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    setup = await make_customer(db, tenant, status="provisioning")
    token = await tenant.token(SUB_WRITE)
    response = await client.post(
        URL, json=body_for(setup, packages=["webex_meetings"], **{PP: {}}), headers=bearer(token)
    )
    body = assert_error(response, 409, 1201)
    assert "provisioning" in str(body["message"])


async def test_email_already_used(
    db: Database, client: httpx.AsyncClient, stocked: Setup, token: str, tenant: Tenant
) -> None:
    meetings = {"packages": ["webex_meetings"], PP: {}}
    first = await client.post(URL, json=body_for(stocked, **meetings), headers=bearer(token))
    assert first.status_code == 200
    same = await client.post(
        URL,
        json=body_for(stocked, email="JOHN.Andersen@customer.example", **meetings),
        headers=bearer(token),
    )
    body = assert_error(same, 409, 10022)
    assert "already belongs to a user" in str(body["message"])
    # Another customer of the same partner: still the same person.
    second = await make_customer(db, tenant)
    elsewhere = await client.post(URL, json=body_for(second, **meetings), headers=bearer(token))
    assert_error(elsewhere, 409, 10022)
    assert await count_users(db) == 1


async def test_package_limit(db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    setup = await make_customer(db, tenant, limits={"webex_meetings": 2})
    token = await tenant.token(SUB_WRITE)
    for i in range(2):
        ok = await client.post(
            URL,
            json=body_for(setup, email=f"u{i}@c.example", packages=["webex_meetings"], **{PP: {}}),
            headers=bearer(token),
        )
        assert ok.status_code == 200, ok.text
    over = await client.post(
        URL,
        json=body_for(setup, email="u3@c.example", packages=["webex_meetings"], **{PP: {}}),
        headers=bearer(token),
    )
    body = assert_error(over, 400, 1010)
    assert "2 of 2" in str(body["message"])
    # Unlimited packages are not counted.
    suite = await client.post(
        URL,
        json=body_for(
            setup, email="u4@c.example", packages=["webex_suite"], **{PP: {"extension": "4000"}}
        ),
        headers=bearer(token),
    )
    assert suite.status_code == 200, suite.text


async def test_scopes(client: httpx.AsyncClient, tenant: Tenant, stocked: Setup) -> None:
    read = await tenant.token(SUB_READ)
    assert_error(await client.post(URL, json=body_for(stocked), headers=bearer(read)), 403, 1300)
    assert (await client.get(URL, headers=bearer(read))).status_code == 200
    nothing = await tenant.token("partnerhub:templates_read")
    assert_error(await client.get(URL, headers=bearer(nothing)), 403, 1300)
    assert_error(await client.get(URL), 401, 1500)
    precheck = await tenant.token("partnerhub:precheck")
    checked = await client.post(
        f"{URL}/validate",
        json={"customerId": stocked.id, "email": "a@b.example"},
        headers=bearer(precheck),
    )
    assert checked.status_code == 200, checked.text


# --- precheck ------------------------------------------------------------------------------


async def test_precheck_variants(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str
) -> None:
    success = {
        "message": "success",
        "info": {"infoCode": 100, "description": "Provisioning preCheck validation successful."},
    }
    v1 = await client.post(
        f"{URL}/validate",
        json={"customerId": stocked.id, "email": "new@c.example"},
        headers=bearer(token),
    )
    assert v1.status_code == 200 and v1.json() == success, v1.text
    v2 = await client.post(
        f"{URL}/validate",
        json={
            "provisioningId": stocked.customer.provisioning_id,
            "customerInfo": {"primaryEmail": "boss@c.example"},
            "email": "new@c.example",
        },
        headers=bearer(token),
    )
    assert v2.status_code == 200 and v2.json() == success, v2.text
    v3 = await client.post(f"{URL}/validate", json=body_for(stocked), headers=bearer(token))
    assert v3.status_code == 200 and v3.json() == success, v3.text
    assert await count_users(db) == 0  # a precheck writes nothing

    # Failing prechecks answer like the real request would.
    bad_number = await client.post(
        f"{URL}/validate",
        json=body_for(stocked, **{PP: {"primaryPhoneNumber": number(555)}}),
        headers=bearer(token),
    )
    assert_error(bad_number, 400, 1013)
    unknown_template = await client.post(
        f"{URL}/validate",
        json={
            "provisioningId": "nope",
            "customerInfo": {"primaryEmail": "b@c.example"},
            "email": "n@c.example",
        },
        headers=bearer(token),
    )
    assert_error(unknown_template, 404, 1100)
    no_info = await client.post(
        f"{URL}/validate",
        json={"provisioningId": stocked.customer.provisioning_id, "email": "n@c.example"},
        headers=bearer(token),
    )
    assert_error(no_info, 400, 1002)
    neither = await client.post(
        f"{URL}/validate", json={"email": "n@c.example"}, headers=bearer(token)
    )
    assert_error(neither, 400, 1002)
    await client.post(URL, json=body_for(stocked), headers=bearer(token))
    used = await client.post(
        f"{URL}/validate",
        json={"customerId": stocked.id, "email": "john.andersen@customer.example"},
        headers=bearer(token),
    )
    assert_error(used, 409, 10022)
    read = await stocked.tenant.token(SUB_READ)
    assert_error(
        await client.post(f"{URL}/validate", json=body_for(stocked), headers=bearer(read)),
        403,
        1300,
    )


# --- pending_user_migration and consentMove ------------------------------------------------


async def test_user_of_another_partner_moves_after_consent(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str, other_tenant: Tenant
) -> None:
    other = await make_customer(db, other_tenant)
    other_token = await other_tenant.token(SUB_WRITE)
    theirs = await client.post(
        URL,
        json=body_for(other, email="free@user.example", packages=["webex_meetings"], **{PP: {}}),
        headers=bearer(other_token),
    )
    assert theirs.status_code == 200, theirs.text

    pending = await client.post(
        URL, json=body_for(stocked, email="free@user.example"), headers=bearer(token)
    )
    assert pending.status_code == 202, pending.text
    sub = pending.json()
    assert sub["status"] == "pending_user_migration"
    assert "personId" not in sub
    assert pending.headers["Location"].endswith(f"{URL}/{sub['id']}")
    # The number is reserved meanwhile.
    assert_error(
        await client.post(URL, json=body_for(stocked, email="x@c.example"), headers=bearer(token)),
        400,
        1013,
    )
    listed = await client.get(
        URL, params={"status": "pending_user_migration"}, headers=bearer(token)
    )
    assert [s["id"] for s in listed.json()["items"]] == [sub["id"]]

    for path in (
        f"{URL}/{sub['id']}/emails/consentMove",
        f"/v1/subscribers/{sub['id']}/emails/consentMove",
    ):
        sent = await client.post(path, headers=bearer(token))
        assert sent.status_code == 204, sent.text
    async with db.transaction() as session:
        mails = (
            (
                await session.execute(
                    select(OutboxEmail)
                    .where(OutboxEmail.kind == "subscriber_consent")
                    .order_by(OutboxEmail.created)
                )
            )
            .scalars()
            .all()
        )
    assert len(mails) == 2 and mails[-1].to_address == "free@user.example"
    link = re.search(r"https?://\S+/consent/(\S+)", mails[-1].body_text)
    assert link, mails[-1].body_text
    first_token = re.search(r"/consent/(\S+)", mails[0].body_text)
    assert first_token is not None
    # Only the newest link works.
    assert (await client.get(f"/consent/{first_token.group(1)}")).status_code == 404

    # Only the user, signed in with the account that moves, may accept (issue 10).
    page = await client.get(f"/consent/{link.group(1)}")
    assert page.status_code == 200 and 'id="consent-accept"' not in page.text
    async with db.transaction() as session:
        holder = (
            await session.execute(
                select(OrgUser).where(
                    OrgUser.email == "free@user.example", OrgUser.customer_id == other.customer.id
                )
            )
        ).scalar_one()
    await give_password(db, holder)
    assert (await password_signin(client, "free@user.example", PASSWORD)).status_code == 303
    page = await client.get(f"/consent/{link.group(1)}")
    assert page.status_code == 200 and "free@user.example" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    accepted = await client.post(f"/consent/{link.group(1)}", data={"csrf_token": csrf.group(1)})
    assert accepted.status_code == 200, accepted.text

    moved = (await client.get(f"{URL}/{sub['id']}", headers=bearer(token))).json()
    assert moved["status"] == "provisioned"
    assert moved["personId"]
    assert moved["lastStatusChange"] >= sub["lastStatusChange"]
    gone = await client.get(f"{URL}/{theirs.json()['id']}", headers=bearer(other_token))
    assert_error(gone, 404, 1100)
    again = await client.post(f"{URL}/{sub['id']}/emails/consentMove", headers=bearer(token))
    assert_error(again, 400, 1003)


async def test_administrator_of_another_partner_cannot_be_moved(
    client: httpx.AsyncClient, db: Database, stocked: Setup, token: str, other_tenant: Tenant
) -> None:
    other = await make_customer(db, other_tenant, admin_package="webex_suite")
    async with db.transaction() as session:
        admin = (
            await session.execute(select(OrgUser).where(OrgUser.customer_id == other.customer.id))
        ).scalar_one()
    response = await client.post(
        URL, json=body_for(stocked, email=admin.email), headers=bearer(token)
    )
    assert_error(response, 409, 10022)


# --- tenant isolation and sub-partners ------------------------------------------------------


async def test_another_partner_gets_404_everywhere(
    client: httpx.AsyncClient, stocked: Setup, token: str, other_tenant: Tenant
) -> None:
    sub = (await client.post(URL, json=body_for(stocked), headers=bearer(token))).json()
    other = await other_tenant.token(SUB_WRITE)
    h = bearer(other)
    assert_error(await client.get(f"{URL}/{sub['id']}", headers=h), 404, 1100)
    assert_error(
        await client.put(f"{URL}/{sub['id']}", json={"package": "webex_meetings"}, headers=h),
        404,
        1100,
    )
    assert_error(await client.delete(f"{URL}/{sub['id']}", headers=h), 404, 1100)
    assert_error(await client.post(f"{URL}/{sub['id']}/emails/consentMove", headers=h), 404, 1100)
    assert_error(
        await client.post(f"/v1/subscribers/{sub['id']}/emails/consentMove", headers=h), 404, 1100
    )
    assert_error(
        await client.post(URL, json=body_for(stocked, email="z@c.example"), headers=h), 404, 1100
    )
    assert_error(
        await client.post(
            f"{URL}/validate", json={"customerId": stocked.id, "email": "q@c.example"}, headers=h
        ),
        404,
        1100,
    )
    for query in (
        {},
        {"customerId": stocked.id},
        {"personId": sub["personId"]},
        {"externalCustomerId": stocked.customer.external_id},
    ):
        listed = await client.get(URL, params=query, headers=h)
        assert listed.json() == {"items": []}
    base = f"/v1/partner/customers/{stocked.id}"
    assert_error(await client.get(f"{base}/administrators", headers=h), 404, 1100)
    assert_error(await client.get(f"{base}/administrators/{sub['personId']}", headers=h), 404, 1100)
    assert_error(
        await client.put(
            f"{base}/administrators/{sub['personId']}/roles",
            json={"roles": ["user_admin"]},
            headers=h,
        ),
        404,
        1100,
    )
    assert_error(await client.get(f"{base}/imports", headers=h), 404, 1100)
    assert_error(
        await client.post(
            f"{base}/imports",
            json={"csv": "email,package\na@b.example,webex_meetings\n"},
            headers=h,
        ),
        404,
        1100,
    )


async def test_sub_partner_subscribers_need_on_behalf_of(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sub_partner = await make_tenant(db, "Initech", parent=tenant.partner)
    setup = await make_customer(db, sub_partner)
    sub_token = await sub_partner.token(SUB_WRITE)
    created = await client.post(
        URL,
        json=body_for(setup, packages=["webex_meetings"], **{PP: {}}),
        headers=bearer(sub_token),
    )
    assert created.status_code == 200, created.text
    parent = await tenant.token(SUB_WRITE)
    assert_error(
        await client.get(f"{URL}/{created.json()['id']}", headers=bearer(parent)), 404, 1100
    )
    on_behalf = {
        "onBehalfOfSubPartnerOrgId": ids.encode("ORGANIZATION", sub_partner.partner.id, "us")
    }
    got = await client.get(
        f"{URL}/{created.json()['id']}", params=on_behalf, headers=bearer(parent)
    )
    assert got.status_code == 200, got.text
    listed = await client.get(URL, params=on_behalf, headers=bearer(parent))
    assert [s["id"] for s in listed.json()["items"]] == [created.json()["id"]]
