"""Who may change a webhook, who sees its secret, and how long a webhook outlives its maker's
authority (docs/events.md, "Webhooks"; docs/security.md, "Credentials and authority")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from partnerhub.catalog.roles import ALL_SCOPES, READ_SCOPES
from partnerhub.db import Database
from partnerhub.identity import service as identity
from tests.conftest import Tenant, assert_error, bearer
from tests.events.receiver import Receiver
from tests.events.test_webhooks import SECRET, make_webhook


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
    # a manager sees the secret only of the webhooks whose resource it reads
    customers_manager = await tenant.token("spark-admin:wholesale_customers_write")
    assert (await client.get(url, headers=bearer(customers_manager))).json()["secret"] == SECRET
    other: dict[str, Any] = (
        await client.get(f"/v1/webhooks/{places['id']}", headers=bearer(customers_manager))
    ).json()
    assert other["id"] == places["id"] and "secret" not in other
