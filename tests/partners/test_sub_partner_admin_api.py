"""Creating, suspending and staffing sub-partners through the hub API (issue 10: a supported
operation): the parent never receives a secret of the new administrator, who gets a single-use
set-password link in their own mailbox (a real SMTP server); another partner's sub-partner is not
found; a token without ``partnerhub:sub_partners_write`` cannot change anything."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from partnerhub import ids
from partnerhub.catalog.roles import PARTNER_ROLES
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.identity import service as identity
from partnerhub.models import OutboxEmail, Partner, PartnerAdmin
from tests.conftest import assert_error, bearer, csrf_of, free_port
from tests.customers.helpers import BASE, running_worker
from tests.factories import Tenant, create_template, make_org, make_tenant, meetings_body
from tests.notifications.conftest import Mailbox

SUBS = "/v1/wholesale/subPartners"
SUB_WRITE = "partnerhub:sub_partners_write"
SUB_READ = "spark-admin:wholesale_sub_partners_read"
LINK = re.compile(r"https://testserver/account/admin-password/[A-Za-z0-9_.\-]+")
NEW_PASSWORD = "a long and new passphrase"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    return smtp_server[0]


@pytest.fixture
def settings(tmp_path: Path, smtp_server: tuple[Mailbox, int]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server[1],
        smtp_security="none",
        smtp_from="PartnerHub <noreply@hub.example>",
        public_url="https://testserver",
    )


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def new_body(email: str, name: str = "Reseller One") -> dict[str, object]:
    return {
        "name": name,
        "subscriptionId": "Sub-7788",
        "administrator": {"email": email, "displayName": "Rita Reseller"},
    }


async def create_sub(
    client: httpx.AsyncClient, token: str, email: str, name: str = "Reseller One"
) -> dict[str, object]:
    response = await client.post(SUBS, json=new_body(email, name), headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def count(db: Database, model: type[Partner] | type[PartnerAdmin]) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(model.id)))).scalar_one())


async def test_create_a_sub_partner_whose_administrator_alone_gets_the_link(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, mailbox: Mailbox
) -> None:
    token = await tenant.token(SUB_WRITE)
    async with running_worker():
        created = await client.post(
            SUBS, json=new_body("Rita@Reseller.example"), headers=bearer(token)
        )
        assert created.status_code == 201, created.text
        sub = created.json()
        assert set(sub) == {
            "orgId",
            "subscriptionId",
            "provisioningState",
            "created",
            "billingStartDate",
            "name",
        }
        assert sub["name"] == "Reseller One" and sub["provisioningState"] == "active"
        assert sub["subscriptionId"] == "Sub-7788" and sub["created"].endswith("Z")
        (message,) = await mailbox.wait_for(1)
    # The e-mail goes to the new administrator only, and carries the link.
    assert mailbox.envelopes[0][1] == ["Rita@reseller.example"]
    link = LINK.search(text_of(message))
    assert link, text_of(message)
    assert "Reseller One" in str(message["Subject"])
    # The parent's answers never carry it: not the creation, not the reads.
    listed = await client.get(SUBS, headers=bearer(token))
    one = await client.get(f"{SUBS}/{sub['orgId']}", headers=bearer(token))
    admins = await client.get(f"{SUBS}/{sub['orgId']}/administrators", headers=bearer(token))
    token_part = link.group(0).rsplit("/", 1)[1]
    for answer in (created, listed, one, admins):
        assert answer.status_code == 200 or answer is created
        assert token_part not in answer.text and "password" not in answer.text.lower()
    assert [i["orgId"] for i in listed.json()["items"]] == [sub["orgId"]]
    assert listed.json()["items"][0]["name"] == "Reseller One"
    assert one.json() == sub
    (admin,) = admins.json()["items"]
    assert admin["email"] == "Rita@reseller.example" and admin["role"] == "full_admin"
    assert admin["displayName"] == "Rita Reseller" and admin["active"] is True
    # The invited administrator cannot sign in before choosing a password ...
    page = await client.get("/login")
    refused = await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": admin["email"], "password": ""},
    )
    assert refused.status_code == 401
    # ... chooses it through the link, once ...
    path = link.group(0).removeprefix("https://testserver")
    form = await client.get(path)
    assert form.status_code == 200 and "Rita@reseller.example" in form.text
    differ = await client.post(
        path,
        data={"csrf_token": csrf_of(form.text), "password": NEW_PASSWORD, "confirm": "other"},
    )
    assert differ.status_code == 400
    short = await client.post(
        path, data={"csrf_token": csrf_of(form.text), "password": "short", "confirm": "short"}
    )
    assert short.status_code == 400
    done = await client.post(
        path,
        data={"csrf_token": csrf_of(form.text), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    again = await client.get(path)
    assert again.status_code == 410 and 'data-reason="used"' in again.text
    # ... and then signs in to its own partner.
    page = await client.get("/login")
    signed = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "rita@reseller.example",
            "password": NEW_PASSWORD,
            "next": "/sub-partners",
        },
    )
    assert signed.status_code == 303, signed.text
    own = await client.get("/settings/partner")
    assert own.status_code == 200 and "Reseller One" in own.text


async def test_links_that_cannot_be_used(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    from partnerhub.partners import invitations

    token = await tenant.token(SUB_WRITE)
    sub = await create_sub(client, token, "late@reseller.example")
    async with db.transaction() as session:
        admin = (
            await session.execute(
                select(PartnerAdmin).where(PartnerAdmin.email == "late@reseller.example")
            )
        ).scalar_one()
        _, expired = await invitations.issue(session, admin.id, timedelta(seconds=-1))
    page = await client.get(expired.removeprefix("https://testserver"))
    assert page.status_code == 410 and 'data-reason="expired"' in page.text
    altered = expired.removeprefix("https://testserver")[:-3] + "AAA"
    assert (await client.get(altered)).status_code == 404
    # A customer user's link (another signing purpose) is no partner administrator's link.
    assert (await client.get("/account/admin-password/" + "x" * 40)).status_code == 404
    # A deactivated administrator's outstanding link stops working.
    async with db.transaction() as session:
        _, live = await invitations.issue(session, admin.id)
    admins = await client.get(f"{SUBS}/{sub['orgId']}/administrators", headers=bearer(token))
    second = await client.post(
        f"{SUBS}/{sub['orgId']}/administrators",
        json={"email": "second@reseller.example", "role": "full_admin"},
        headers=bearer(token),
    )
    assert second.status_code == 201, second.text
    first_id = admins.json()["items"][0]["id"]
    off = await client.put(
        f"{SUBS}/{sub['orgId']}/administrators/{first_id}",
        json={"active": False},
        headers=bearer(token),
    )
    assert off.status_code == 200 and off.json()["active"] is False
    page = await client.get(live.removeprefix("https://testserver"))
    assert page.status_code == 404 and 'data-reason="invalid"' in page.text


async def test_refusals_write_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE)
    _, org_user = await make_org(db, other_tenant, user_email="user@hooli.example")
    partners, admins = await count(db, Partner), await count(db, PartnerAdmin)
    cases: list[tuple[dict[str, object], int, int]] = [
        ({"administrator": {"email": "a@b.example"}}, 400, 1002),
        (new_body("a@b.example", name="   "), 400, 1002),
        (new_body("a@b.example", name="x" * 201), 400, 1003),
        (new_body("not-an-email"), 400, 1003),
        ({"name": "No admin"}, 400, 1002),
        ({**new_body("a@b.example"), "parentId": "x"}, 400, 1003),
        ({**new_body("a@b.example"), "subscriptionId": "x" * 101}, 400, 1003),
        # one identity per e-mail address, whoever holds it (any case)
        (new_body(tenant.admin.email.upper()), 409, 10022),
        (new_body(other_tenant.admin.email), 409, 10022),
        (new_body(org_user.email.upper()), 409, 10022),
    ]
    for body, status, code in cases:
        assert_error(await client.post(SUBS, json=body, headers=bearer(token)), status, code)
    assert (await count(db, Partner), await count(db, PartnerAdmin)) == (partners, admins)
    sub = await create_sub(client, token, "ok@reseller.example")
    url = f"{SUBS}/{sub['orgId']}"
    for body, status, code in [
        ({"provisioningState": "sleeping"}, 400, 1003),
        ({"provisioningState": 1}, 400, 1003),
        ({"name": ""}, 400, 1002),
        ({"orgId": "x"}, 400, 1003),
    ]:
        assert_error(await client.put(url, json=body, headers=bearer(token)), status, code)
    admins_url = f"{url}/administrators"
    for body, status, code in [
        ({"email": "x@reseller.example", "role": "owner"}, 400, 1003),
        ({"email": "x@reseller.example"}, 400, 1002),
        ({"email": other_tenant.admin.email, "role": "admin"}, 409, 10022),
        ({"email": "x@reseller.example", "role": "admin", "password": "secret123456"}, 400, 1003),
    ]:
        assert_error(await client.post(admins_url, json=body, headers=bearer(token)), status, code)
    (first,) = (await client.get(admins_url, headers=bearer(token))).json()["items"]
    # The sub-partner keeps an active full administrator; booleans are true or false only.
    for body, status, code in [
        ({"active": False}, 409, 1205),
        ({"role": "read_only"}, 409, 1205),
        ({"active": 0.0}, 400, 1003),
        ({"active": "false"}, 400, 1003),
    ]:
        answer = await client.put(f"{admins_url}/{first['id']}", json=body, headers=bearer(token))
        assert_error(answer, status, code)
    assert (await client.get(admins_url, headers=bearer(token))).json()["items"] == [first]


async def test_suspend_and_reactivate(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE, "spark-admin:wholesale_customers_write")
    sub = await create_sub(client, token, "s@reseller.example")
    url = f"{SUBS}/{sub['orgId']}"
    suspended = await client.put(
        url, json={"provisioningState": "suspended"}, headers=bearer(token)
    )
    assert suspended.status_code == 200 and suspended.json()["provisioningState"] == "suspended"
    listed = await client.get(f"{SUBS}?provisioningState=suspended", headers=bearer(token))
    assert [i["orgId"] for i in listed.json()["items"]] == [sub["orgId"]]
    # The parent acting for it may no longer provision (the contract's rule), only read.
    template = await create_template(client, tenant)
    acting = f"{BASE}?onBehalfOfSubPartnerOrgId={sub['orgId']}"
    refused = await client.post(
        acting, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    assert_error(refused, 403, 1300)
    assert (await client.get(acting, headers=bearer(token))).status_code == 200
    renamed = await client.put(
        url,
        json={"provisioningState": "active", "name": " Reseller  Renamed "},
        headers=bearer(token),
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["provisioningState"] == "active"
    assert renamed.json()["name"] == "Reseller Renamed"
    allowed = await client.post(
        acting, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    assert allowed.status_code != 403, allowed.text


async def test_administrators_of_a_sub_partner(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, mailbox: Mailbox
) -> None:
    token = await tenant.token(SUB_WRITE)
    sub = await create_sub(client, token, "first@reseller.example")
    url = f"{SUBS}/{sub['orgId']}/administrators"
    async with running_worker():
        added = await client.post(
            url,
            json={"email": "viewer@reseller.example", "displayName": "Vi", "role": "read_only"},
            headers=bearer(token),
        )
        assert added.status_code == 201, added.text
        await mailbox.wait_for(2)
    assert (
        added.json()["role"] == "read_only" and added.json()["email"] == "viewer@reseller.example"
    )
    assert "password" not in added.text.lower()
    recipients = [rcpt for _, rcpts in mailbox.envelopes for rcpt in rcpts]
    assert sorted(recipients) == ["first@reseller.example", "viewer@reseller.example"]
    listed = (await client.get(url, headers=bearer(token))).json()["items"]
    assert [a["email"] for a in listed] == ["first@reseller.example", "viewer@reseller.example"]
    off = await client.put(
        f"{url}/{added.json()['id']}", json={"active": False}, headers=bearer(token)
    )
    assert off.status_code == 200 and off.json()["active"] is False
    on = await client.put(
        f"{url}/{added.json()['id']}", json={"active": True, "role": "admin"}, headers=bearer(token)
    )
    assert on.json()["active"] is True and on.json()["role"] == "admin"
    # The parent's own administrators are not the sub-partner's (and the reverse).
    mine = ids.encode("PEOPLE", tenant.admin.id, ids.HUB)
    assert_error(
        await client.put(f"{url}/{mine}", json={"active": False}, headers=bearer(token)), 404, 1100
    )
    assert_error(
        await client.put(f"{url}/not-an-id", json={"active": False}, headers=bearer(token)),
        404,
        1100,
    )


async def test_another_partner_reaches_no_sub_partner_of_mine(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE)
    sub = await create_sub(client, token, "mine@reseller.example")
    url = f"{SUBS}/{sub['orgId']}"
    first = (await client.get(f"{url}/administrators", headers=bearer(token))).json()["items"][0]
    grandchild = await make_tenant(db, "Grandchild", parent=(await _partner(db, sub)))
    strangers = {
        "another partner": await other_tenant.token(SUB_WRITE),
        "the sub-partner itself": await _sub_token(db, sub),
        "a sibling": await (await make_tenant(db, "Sibling", parent=tenant.partner)).token(
            SUB_WRITE
        ),
    }
    for who, stranger in strangers.items():
        calls = [
            client.get(url, headers=bearer(stranger)),
            client.put(url, json={"provisioningState": "suspended"}, headers=bearer(stranger)),
            client.get(f"{url}/administrators", headers=bearer(stranger)),
            client.post(
                f"{url}/administrators",
                json={"email": f"{uuid.uuid4().hex[:6]}@evil.example", "role": "full_admin"},
                headers=bearer(stranger),
            ),
            client.put(
                f"{url}/administrators/{first['id']}",
                json={"active": False},
                headers=bearer(stranger),
            ),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404, (who, response.text)
            assert_error(response, 404, 1100)
            assert "mine@reseller.example" not in response.text
        listed = await client.get(SUBS, headers=bearer(stranger))
        assert sub["orgId"] not in listed.text
    # The parent reaches its direct sub-partners only, not their own sub-partners ...
    deeper = f"{SUBS}/{ids.encode('ORGANIZATION', grandchild.partner.id, ids.HUB)}"
    assert_error(await client.get(deeper, headers=bearer(token)), 404, 1100)
    # ... unless it acts for the sub-partner (onBehalfOfSubPartnerOrgId), like everywhere.
    acting = await client.get(
        deeper, params={"onBehalfOfSubPartnerOrgId": sub["orgId"]}, headers=bearer(token)
    )
    assert acting.status_code == 200 and acting.json()["name"] == "Grandchild"
    unchanged = await client.get(url, headers=bearer(token))
    assert unchanged.json() == sub
    admins = (await client.get(f"{url}/administrators", headers=bearer(token))).json()["items"]
    assert admins == [first]


async def test_roles_without_the_write_scope_only_look(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE)
    sub = await create_sub(client, token, "look@reseller.example")
    url = f"{SUBS}/{sub['orgId']}"
    for role in ("read_only", "sales", "admin"):
        person, _ = await tenant.add_admin(role)
        assert "partnerhub:sub_partners_write" not in PARTNER_ROLES[role].scopes
        async with db.transaction() as session:
            with pytest.raises(Exception, match="cannot grant"):
                identity.create_token(session, tenant.partner.id, "x", [SUB_WRITE], None, person)
        async with db.transaction() as session:
            theirs = identity.create_token(
                session, tenant.partner.id, role, sorted(PARTNER_ROLES[role].scopes), None, person
            ).secret
        assert (await client.get(url, headers=bearer(theirs))).status_code == 200
        assert (
            await client.get(f"{url}/administrators", headers=bearer(theirs))
        ).status_code == 200
        for response in (
            await client.post(SUBS, json=new_body(f"{role}@x.example"), headers=bearer(theirs)),
            await client.put(url, json={"provisioningState": "suspended"}, headers=bearer(theirs)),
            await client.post(
                f"{url}/administrators",
                json={"email": f"{role}@x.example", "role": "full_admin"},
                headers=bearer(theirs),
            ),
        ):
            assert_error(response, 403, 1300)
    reader_only = await tenant.token(SUB_READ)
    assert (await client.get(url, headers=bearer(reader_only))).status_code == 200
    assert_error(
        await client.post(SUBS, json=new_body("r@x.example"), headers=bearer(reader_only)),
        403,
        1300,
    )
    nothing = await tenant.token("partnerhub:templates_read")
    assert_error(await client.get(url, headers=bearer(nothing)), 403, 1300)
    assert (await client.get(url, headers=bearer(token))).json()["provisioningState"] == "active"


async def test_a_suspended_sub_partner_creates_no_sub_partner(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sleepy = await make_tenant(db, "Sleepy", parent=tenant.partner, state="suspended")
    token = await sleepy.token(SUB_WRITE)
    assert_error(
        await client.post(SUBS, json=new_body("z@z.example"), headers=bearer(token)), 403, 1300
    )
    assert (await client.get(SUBS, headers=bearer(token))).status_code == 200


async def test_idempotent_creation(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    token = await tenant.token(SUB_WRITE)
    headers = {**bearer(token), "Idempotency-Key": "create-reseller-1"}
    first = await client.post(SUBS, json=new_body("idem@reseller.example"), headers=headers)
    again = await client.post(SUBS, json=new_body("idem@reseller.example"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotency-Replayed") == "true"
    async with db.transaction() as session:
        mails = (await session.execute(select(func.count(OutboxEmail.id)))).scalar_one()
    assert mails == 1
    assert len((await client.get(SUBS, headers=bearer(token))).json()["items"]) == 1


async def _partner(db: Database, sub: dict[str, object]) -> Partner:
    partner_id = ids.decode("ORGANIZATION", str(sub["orgId"]))
    async with db.transaction() as session:
        found = await session.get(Partner, partner_id)
    assert found is not None
    return found


async def _sub_token(db: Database, sub: dict[str, object]) -> str:
    partner = await _partner(db, sub)
    async with db.transaction() as session:
        new = identity.create_token(session, partner.id, "own", [SUB_WRITE], None)
    return new.secret


async def test_billing_start_date(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(SUB_WRITE)
    body = {**new_body("bill@reseller.example"), "billingStartDate": "2026-02-03T04:05:06+01:00"}
    created = await client.post(SUBS, json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["billingStartDate"] == "2026-02-03T03:05:06.000Z"
    naive = {**new_body("naive@reseller.example"), "billingStartDate": "2026-02-03T04:05:06"}
    created = await client.post(SUBS, json=naive, headers=bearer(token))
    assert created.json()["billingStartDate"] == "2026-02-03T04:05:06.000Z"
    for value in ("0001-01-01T00:00:00+01:00", "1900-01-01T00:00:00Z", "yesterday"):
        bad = {**new_body("bad@reseller.example"), "billingStartDate": value}
        assert_error(await client.post(SUBS, json=bad, headers=bearer(token)), 400, 1003)


async def test_concurrent_creations_with_one_address(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    token = await tenant.token(SUB_WRITE)
    answers = await asyncio.gather(
        *(
            client.post(
                SUBS, json=new_body("race@reseller.example", f"Racer {n}"), headers=bearer(token)
            )
            for n in range(6)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, 10022)
    assert len((await client.get(SUBS, headers=bearer(token))).json()["items"]) == 1
