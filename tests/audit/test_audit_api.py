"""``/v1/adminAudit``: the vendor's shape, every category of action recorded with its actor,
what a failed action leaves (nothing), and tenant isolation seen from the other tenant."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from partnerhub import ids
from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from partnerhub.models import AuditEvent
from tests.audit.conftest import AUDIT_READ, audit_events, partner_org, window
from tests.conftest import assert_error, csrf_of, portal_login
from tests.factories import Tenant, bearer, customer_body, make_org

ITEM_KEYS = {"id", "created", "actorId", "actorOrgId", "data"}
DATA_KEYS = {
    "actorName",
    "actorEmail",
    "actorOrgName",
    "adminRoles",
    "actorIp",
    "actorUserAgent",
    "trackingId",
    "targetType",
    "targetId",
    "targetName",
    "targetOrgId",
    "targetOrgName",
    "eventCategory",
    "eventDescription",
    "actionText",
    "changes",
    "action",
}


def template_body(tenant: Tenant, name: str) -> dict[str, object]:
    return {
        "name": name,
        "offer": "wholesale",
        "serviceProviderAdminEmail": tenant.admin.email,
        "country": "US",
        "defaultEmailLanguage": "en_US",
        "wholesaleSubscriptionId": "Sub-1",
        "authentication": {"method": "platform"},
        "email": {"brandName": "Acme Cloud"},
    }


async def count_rows(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(AuditEvent.id)))).scalar_one())


async def test_event_categories_need_the_scope(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(AUDIT_READ)
    got = await client.get("/v1/adminAudit/eventCategories", headers=bearer(token))
    assert got.status_code == 200
    categories = got.json()["eventCategories"]
    assert {"LOGINS", "FAILED_LOGINS", "ADMINISTRATORS", "API_TOKENS", "TEMPLATES"} <= set(
        categories
    )
    assert {"SETTINGS", "CUSTOMERS", "USERS", "CREDENTIALS", "SECRETS"} <= set(categories)
    without = await tenant.token("partnerhub:templates_read")
    assert_error(
        await client.get("/v1/adminAudit/eventCategories", headers=bearer(without)), 403, 1300
    )
    assert_error(await audit_events(client, without, partner_org(tenant)), 403, 1300)
    assert (await client.get("/v1/adminAudit/eventCategories")).status_code == 401


async def test_every_partner_action_is_recorded_with_its_actor(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    headers = {**bearer(token), "User-Agent": "audit-test/1.0", "TrackingID": "AUDIT_TRACK_1"}
    # templates: create, change, delete
    created = await client.post(
        "/v1/partner/templates", json=template_body(tenant, "Gold"), headers=headers
    )
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    changed = await client.put(
        f"/v1/partner/templates/{tid}",
        json={**template_body(tenant, "Platinum"), "requireApproval": True},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert (
        await client.delete(f"/v1/partner/templates/{tid}", headers=bearer(token))
    ).status_code == 204
    # administrators: add, change role, deactivate
    added = await client.post(
        "/v1/partner/administrators",
        json={
            "email": "ops@acme.example",
            "displayName": "Ops",
            "role": "admin",
            "password": "a-long-password-1",
        },
        headers=bearer(token),
    )
    assert added.status_code == 201, added.text
    aid = added.json()["id"]
    for body in ({"role": "read_only"}, {"active": False}):
        put = await client.put(f"/v1/partner/administrators/{aid}", json=body, headers=headers)
        assert put.status_code == 200, put.text
    # partner settings
    settings = await client.get("/v1/partner/settings", headers=bearer(token))
    assert settings.status_code == 200, settings.text
    body = settings.json()
    body["pstnProviders"] = [*body.get("pstnProviders", []), "Second PSTN"]
    put = await client.put("/v1/partner/settings", json=body, headers=bearer(token))
    assert put.status_code == 200, put.text
    # portal: a refused and a successful sign-in, a token made and revoked
    page = await client.get("/login")
    refused = await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": tenant.admin.email, "password": "nope"},
        headers={"User-Agent": "browser/2"},
    )
    assert refused.status_code == 401
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    made = await client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": "CI", "scopes": [AUDIT_READ], "expires": "1d"},
    )
    assert made.status_code == 200
    async with db.transaction() as session:
        ci = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "token.create"))
        ).scalars()
        made_ids = [e.target_id for e in ci if e.target_name == "CI"]
    assert len(made_ids) == 1
    revoked = await client.post(f"/settings/tokens/{made_ids[0]}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303

    reader = await tenant.token(AUDIT_READ)
    got = await audit_events(client, reader, partner_org(tenant))
    assert got.status_code == 200, got.text
    items = got.json()["items"]
    actions = [i["data"]["action"] for i in items]
    for expected in (
        "template.create",
        "template.update",
        "template.delete",
        "admin.create",
        "admin.role",
        "admin.deactivate",
        "settings.update",
        "signin.failed",
        "signin.success",
        "token.create",
        "token.revoke",
    ):
        assert expected in actions, (expected, actions)
    for item in items:
        assert set(item) == ITEM_KEYS
        assert set(item["data"]) == DATA_KEYS
        assert item["created"].endswith("Z")
        assert item["data"]["targetOrgId"] == partner_org(tenant)
    newest_first = [i["created"] for i in items]
    assert newest_first == sorted(newest_first, reverse=True)
    by_action: dict[str, dict[str, Any]] = {}
    for item in items:  # the newest row of each action
        by_action.setdefault(item["data"]["action"], item)
    made_template = by_action["template.create"]["data"]
    assert made_template["eventCategory"] == "TEMPLATES"
    assert made_template["actorUserAgent"] == "audit-test/1.0"
    assert made_template["trackingId"] == "AUDIT_TRACK_1"
    assert made_template["actorIp"]
    assert made_template["actorName"] == "API token test"
    assert made_template["targetName"] == "Gold"
    assert made_template["targetId"] == tid
    update = by_action["template.update"]["data"]
    assert update["changes"]["name"] == ["Gold", "Platinum"]
    assert update["changes"]["require_approval"] == [False, True]
    assert update["actionText"] == "API token test changed the template Platinum"
    role = by_action["admin.role"]["data"]
    assert role["changes"] == {"role": ["admin", "read_only"]}
    assert role["targetName"] == "ops@acme.example"
    assert by_action["admin.deactivate"]["data"]["changes"] == {"active": [True, False]}
    assert by_action["admin.create"]["data"]["changes"]["password"] == ["(changed)", "(changed)"]
    assert "Second PSTN" in by_action["settings.update"]["data"]["changes"]["pstn_providers"][1]
    signin = by_action["signin.success"]["data"]
    assert signin["eventCategory"] == "LOGINS"
    assert signin["actorEmail"] == tenant.admin.email
    assert signin["adminRoles"] == ["full_admin"]
    failed = by_action["signin.failed"]["data"]
    assert failed["eventCategory"] == "FAILED_LOGINS"
    assert failed["actorUserAgent"] == "browser/2"
    assert failed["targetName"] == tenant.admin.email
    [token_made] = [
        i["data"]
        for i in items
        if i["data"]["action"] == "token.create" and i["data"]["targetName"] == "CI"
    ]
    assert token_made["eventCategory"] == "API_TOKENS"
    assert token_made["actorName"] == tenant.admin.display_name
    assert by_action["token.revoke"]["data"]["targetName"] == "CI"
    assert by_action["admin.create"]["actorId"] == by_action["template.create"]["actorId"]

    # filters: one category, one actor; max and the Link header
    only = await audit_events(client, reader, partner_org(tenant), eventCategories="LOGINS")
    assert {i["data"]["eventCategory"] for i in only.json()["items"]} == {"LOGINS"}
    mine = by_action["signin.success"]["actorId"]
    by_actor = await audit_events(client, reader, partner_org(tenant), actorId=mine)
    assert {i["actorId"] for i in by_actor.json()["items"]} == {mine}
    paged = await audit_events(client, reader, partner_org(tenant), max=2)
    assert len(paged.json()["items"]) == 2
    assert 'rel="next"' in paged.headers["Link"] and "offset=2" in paged.headers["Link"]


async def test_customer_actions_are_in_the_customers_log(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    template = await client.post(
        "/v1/partner/templates", json=template_body(tenant, "Basic"), headers=bearer(token)
    )
    pid = template.json()["provisioningId"]
    created = await client.post(
        "/v1/wholesale/customers",
        json=customer_body(pid, 1),
        headers=bearer(token),
    )
    assert created.status_code == 202, created.text
    cid = created.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    reader = await tenant.token(AUDIT_READ)
    # The customer's own org id is its id until provisioning attaches an organization.
    got = await client.get(f"/v1/wholesale/customers/{cid}", headers=bearer(token))
    org = got.json().get("orgId")
    customer_uuid = ids.decode("CUSTOMER", cid)
    assert customer_uuid is not None
    org_ref = org or ids.encode("ORGANIZATION", customer_uuid, "us")
    log = await audit_events(client, reader, org_ref)
    assert log.status_code == 200, log.text
    [row] = [i for i in log.json()["items"] if i["data"]["action"] == "customer.create"]
    assert row["data"]["eventCategory"] == "CUSTOMERS"
    assert row["data"]["targetId"] == cid
    assert row["data"]["changes"]["externalId"][0] is None
    # The partner's own log does not hold the customer's rows.
    own = await audit_events(client, reader, partner_org(tenant))
    assert "customer.create" not in [i["data"]["action"] for i in own.json()["items"]]


async def test_a_refused_action_leaves_no_row(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    before = await count_rows(db)
    bad = await client.post(
        "/v1/partner/templates",
        json={**template_body(tenant, "X"), "country": "ZZ"},
        headers=bearer(token),
    )
    assert bad.status_code == 400
    demote = await client.put(
        f"/v1/partner/administrators/{uuid.uuid4()}", json={"role": "admin"}, headers=bearer(token)
    )
    assert demote.status_code == 404
    assert await count_rows(db) == before


async def test_query_refusals_are_contract_errors(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    reader = await tenant.token(AUDIT_READ)
    org = partner_org(tenant)
    missing = await client.get(
        "/v1/adminAudit/events", params={"orgId": org}, headers=bearer(reader)
    )
    assert_error(missing, 400, 1002)
    w = window()
    long = await client.get(
        "/v1/adminAudit/events",
        params={"orgId": org, "from": "2020-01-01T00:00:00Z", "to": w["to"]},
        headers=bearer(reader),
    )
    assert_error(long, 400, 1003)
    assert_error(await audit_events(client, reader, org, eventCategories="NOPE"), 400, 1003)
    assert_error(await audit_events(client, reader, org, max="201"), 400, 1003)
    assert_error(await audit_events(client, reader, org, **{"from": "yesterday"}), 400, 1003)
    assert_error(await audit_events(client, reader, "not-an-org"), 404, 1100)


async def test_another_tenant_reaches_nothing(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)  # a row in tenant's log
    theirs = await other_tenant.token(*ALL_SCOPES)
    # Their token on our organization: not found, as an unknown one.
    assert_error(await audit_events(client, theirs, partner_org(tenant)), 404, 1100)
    # Their own organization, every category, our admin as actor: none of our rows.
    ours = await tenant.token(AUDIT_READ)
    mine = (await audit_events(client, ours, partner_org(tenant))).json()["items"]
    assert mine, "our sign-in is recorded"
    [actor] = [i["actorId"] for i in mine if i["data"]["action"] == "signin.success"]
    assert actor
    got = await audit_events(client, theirs, partner_org(other_tenant), actorId=actor)
    assert got.status_code == 200 and got.json()["items"] == []
    everything = (await audit_events(client, theirs, partner_org(other_tenant))).json()["items"]
    assert all(i["data"]["actorEmail"] != tenant.admin.email for i in everything)


async def test_customer_administrator_roles_by_api_are_recorded(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    customer, user = await make_org(db, tenant, name="Hooli", roles=[])
    token = await tenant.token(*ALL_SCOPES)
    cid = ids.encode("CUSTOMER", customer.id, "us")
    pid = ids.encode("PEOPLE", user.id, "us")
    changed = await client.put(
        f"/v1/partner/customers/{cid}/administrators/{pid}/roles",
        json={"roles": ["user_admin"]},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert customer.org_id is not None
    org = ids.encode("ORGANIZATION", customer.org_id, "us")
    log = await audit_events(client, await tenant.token(AUDIT_READ), org)
    [row] = [i for i in log.json()["items"] if i["data"]["action"] == "user.roles"]
    assert row["data"]["eventCategory"] == "ADMINISTRATORS"
    assert row["data"]["changes"] == {"roles": [[], ["user_admin"]]}
    assert row["data"]["targetName"] == user.email
    assert row["data"]["targetId"] == pid
    assert row["data"]["targetOrgId"] == org
    assert row["data"]["targetOrgName"] == "Hooli"
    assert row["data"]["actorName"] == "API token test"
