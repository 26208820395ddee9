"""Who may change a webhook, who sees its secret, and how long a webhook outlives its maker's
authority (docs/events.md, "Webhooks"; docs/security.md, "Credentials and authority")."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from partnerhub import ids
from partnerhub.catalog.roles import ALL_SCOPES, READ_SCOPES, WRITE_SCOPES
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.identity import service as identity
from partnerhub.identity.repository import AdminRepository
from partnerhub.models import PartnerAdmin
from tests.conftest import Tenant, assert_error, bearer
from tests.events.receiver import Receiver
from tests.events.test_webhooks import SECRET, location_body, make_webhook, more_rounds, pump
from tests.factories import make_customer


async def admins_token(db: Database, tenant: Tenant, role: str, *scopes: str) -> str:
    """A token made by a new administrator of ``role`` (as the portal's API-token page makes
    it)."""
    admin, _password = await tenant.add_admin(role)
    async with db.transaction() as session:
        made = identity.create_token(
            session, tenant.partner.id, role, list(scopes), timedelta(hours=1), created_by=admin
        )
    return made.secret


async def test_read_only_callers_neither_change_webhooks_nor_see_their_secret(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, receiver: Receiver
) -> None:
    owner = await tenant.token(*ALL_SCOPES)
    hook = await make_webhook(client, owner, receiver.url, resource="wholesaleCustomers")
    places = await make_webhook(client, owner, receiver.url + "/places", resource="locations")
    assert hook["secret"] == SECRET and places["secret"] == SECRET
    url = f"/v1/webhooks/{hook['id']}"
    readers = {
        "read-only administrator's token": await admins_token(
            db, tenant, "read_only", *READ_SCOPES
        ),
        "sales administrator's token": await admins_token(db, tenant, "sales", *READ_SCOPES),
        "token of read scopes only": await tenant.token(*READ_SCOPES),
    }
    for who, token in readers.items():
        # they may look, without the secret (with it they could sign forged deliveries)
        shown = (await client.get(url, headers=bearer(token))).json()
        assert "secret" not in shown, who
        assert shown == {k: v for k, v in hook.items() if k != "secret"}, who
        listed = (await client.get("/v1/webhooks", headers=bearer(token))).json()["items"]
        assert all("secret" not in item for item in listed), who
        # ...and change nothing: no new webhook, no redirect, no re-activation, no deletion,
        # no test event
        created = await client.post(
            "/v1/webhooks",
            json={
                "name": "mine",
                "targetUrl": "https://spy.example/in",
                "resource": "wholesaleCustomers",
                "event": "all",
            },
            headers=bearer(token),
        )
        assert_error(created, 403, 1300)
        for body in (
            {"name": "Taken over", "targetUrl": "https://spy.example/in", "secret": "mine"},
            {"name": hook["name"], "targetUrl": hook["targetUrl"], "status": "active"},
        ):
            assert_error(await client.put(url, json=body, headers=bearer(token)), 403, 1300)
        assert_error(await client.delete(url, headers=bearer(token)), 403, 1300)
        assert_error(await client.post(f"{url}/test", headers=bearer(token)), 403, 1300)
    # everything as the owner left it
    assert (await client.get(url, headers=bearer(owner))).json() == hook
    assert len((await client.get("/v1/webhooks", headers=bearer(owner))).json()["items"]) == 2
    async with db.transaction() as session:
        queued = await session.scalar(text("SELECT count(*) FROM webhook_deliveries"))
    assert queued == 0
    # a manager of customers sees the secret of the customers' webhook
    customers_manager = await tenant.token("spark-admin:wholesale_customers_write")
    assert (await client.get(url, headers=bearer(customers_manager))).json()["secret"] == SECRET
    assert places["id"]  # (the next test: a webhook of a resource it may not read)


async def test_a_webhook_of_a_resource_the_caller_may_not_read_is_out_of_its_reach(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, receiver: Receiver
) -> None:
    owner = await tenant.token(*ALL_SCOPES)
    customer = await make_customer(db, tenant)
    hook = await make_webhook(
        client,
        owner,
        receiver.url,
        resource="wholesaleCustomers",
        filter=f"customerId={customer.id}",
    )
    places = await make_webhook(client, owner, receiver.url, resource="locations")
    # a manager of locations only: the customers' webhook (its filter names a customer, its
    # log is about customers) is not its to read, test, delete or change
    locations = await tenant.token("partnerhub:locations_write")
    listed = (await client.get("/v1/webhooks", headers=bearer(locations))).json()["items"]
    assert [item["id"] for item in listed] == [places["id"]]
    url = f"/v1/webhooks/{hook['id']}"
    for method, path, body in (
        ("GET", url, None),
        ("GET", f"{url}/deliveries", None),
        ("POST", f"{url}/test", None),
        ("PUT", url, {"name": "x", "targetUrl": "https://spy.example/in"}),
        ("DELETE", url, None),
    ):
        answer = await client.request(method, path, json=body, headers=bearer(locations))
        assert_error(answer, 403, 1300)
    assert (await client.get(url, headers=bearer(owner))).json() == hook
    async with db.transaction() as session:
        assert await session.scalar(text("SELECT count(*) FROM webhook_deliveries")) == 0


async def _maker(db: Database, tenant: Tenant) -> tuple[PartnerAdmin, str, uuid.UUID]:
    """A second full administrator and a token they made (with its id)."""
    admin, _password = await tenant.add_admin("full_admin")
    async with db.transaction() as session:
        made = identity.create_token(
            session, tenant.partner.id, "maker", list(ALL_SCOPES), None, created_by=admin
        )
    return admin, made.secret, made.token.id


async def _set_active(client: httpx.AsyncClient, tenant: Tenant, admin: Any, active: bool) -> None:
    response = await client.put(
        f"/v1/partner/administrators/{ids.encode('PEOPLE', admin.id, ids.HUB)}",
        json={"active": active},
        headers=bearer(await tenant.token("partnerhub:admin")),
    )
    assert response.status_code == 200, response.text


async def _received_by(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    receiver: Receiver,
    token: str,
    org_id: str,
    name: str,
    witness: str,
) -> list[str]:
    """Make a location and run the delivery loop until ``witness`` (a webhook that always
    receives) got it; the ids of the webhooks that received the location ``name``."""
    response = await client.post(
        f"/v1/locations?orgId={org_id}", json=location_body(name), headers=bearer(token)
    )
    assert response.status_code == 201, response.text

    def got() -> list[str]:
        bodies = [json.loads(r.body) for r in receiver.ok()]
        return [b["id"] for b in bodies if b["data"].get("name") == name]

    await pump(db, settings, lambda: witness in got())
    await more_rounds(db, settings, 3)
    return sorted(got())


async def test_a_creators_webhook_stops_with_its_makers_authority(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    setup = await make_customer(db, tenant)
    operator = await tenant.token(*ALL_SCOPES)
    admin, maker, _ = await _maker(db, tenant)
    mine = (await make_webhook(client, maker, receiver.url))["id"]
    org = (await make_webhook(client, maker, receiver.url, ownedBy="org"))["id"]
    witness = (await make_webhook(client, operator, receiver.url))["id"]
    _, by_revoked, revoked_token_id = await _maker(db, tenant)
    of_revoked = (await make_webhook(client, by_revoked, receiver.url))["id"]
    _, by_expiring, expiring_token_id = await _maker(db, tenant)
    of_expired = (await make_webhook(client, by_expiring, receiver.url))["id"]
    everyone = sorted([mine, org, witness, of_revoked, of_expired])
    assert (
        await _received_by(client, db, settings, receiver, operator, setup.org, "Before", witness)
        == everyone
    )
    # the maker is deactivated; the second maker's token revoked (the portal's API-token page)
    await _set_active(client, tenant, admin, False)
    async with db.transaction() as session:
        await identity.revoke_token(
            AdminRepository(session, identity.principal_for_admin(tenant.admin)),
            revoked_token_id,
        )
        # a third maker's token reaches its end (its expiry moved to a second ago, as time
        # would move it)
        await session.execute(
            text("UPDATE api_tokens SET expires = now() - interval '1 second' WHERE id = :id"),
            {"id": expiring_token_id},
        )
    # their own webhooks get nothing more; the organization's webhook lives on
    assert await _received_by(
        client, db, settings, receiver, operator, setup.org, "While away", witness
    ) == sorted([org, witness])
    # the maker active again: their webhook receives what happens from now on
    await _set_active(client, tenant, admin, True)
    assert await _received_by(
        client, db, settings, receiver, operator, setup.org, "Back", witness
    ) == sorted([mine, org, witness])


async def test_only_a_full_administrator_makes_a_webhook_the_organizations(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, receiver: Receiver
) -> None:
    # an administrator (not full) may manage webhooks, but not make one outlive them
    admin = await admins_token(db, tenant, "admin", *READ_SCOPES, *WRITE_SCOPES)
    body = {
        "name": "forever",
        "targetUrl": receiver.url,
        "resource": "wholesaleCustomers",
        "event": "all",
        "ownedBy": "org",
    }
    assert_error(await client.post("/v1/webhooks", json=body, headers=bearer(admin)), 403, 1300)
    assert (await client.get("/v1/webhooks", headers=bearer(admin))).json()["items"] == []
    own = await make_webhook(client, admin, receiver.url)
    url = f"/v1/webhooks/{own['id']}"
    change = {"name": own["name"], "targetUrl": own["targetUrl"], "ownedBy": "org"}
    assert_error(await client.put(url, json=change, headers=bearer(admin)), 403, 1300)
    assert (await client.get(url, headers=bearer(admin))).json() == own
    # a full administrator may (the organization keeps the webhook)
    full = await tenant.token(*ALL_SCOPES)
    kept = await client.put(url, json=change, headers=bearer(full))
    assert kept.status_code == 200 and kept.json()["ownedBy"] == "org"
    made = await client.post("/v1/webhooks", json=body, headers=bearer(full))
    assert made.status_code == 200 and made.json()["ownedBy"] == "org"
