"""The partner portal's webhooks page: create, edit, send a test event (delivered to a real
receiver and shown in the deliveries), re-activate; read-only administrators only look."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import text

from partnerhub.config import Settings
from partnerhub.db import Database
from tests.conftest import Tenant, portal_login
from tests.events.receiver import Receiver
from tests.events.test_webhooks import pump


async def test_create_edit_test_and_reactivate_from_the_portal(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/webhooks")
    assert page.status_code == 200 and "No webhooks yet." in page.text
    refused = await client.post(
        "/webhooks",
        data={
            "csrf_token": csrf,
            "name": "Portal hook",
            "target_url": "ftp://x.example/",
            "resource": "locations",
            "event": "all",
        },
    )
    assert refused.status_code == 400 and "Portal hook" in refused.text
    created = await client.post(
        "/webhooks",
        data={
            "csrf_token": csrf,
            "name": "Portal hook",
            "target_url": receiver.url,
            "resource": "locations",
            "event": "all",
            "secret": "portal-secret",
        },
    )
    assert created.status_code == 303, created.text
    listing = await client.get("/webhooks?created=1")
    assert "Portal hook" in listing.text and receiver.url in listing.text
    ref = listing.text.split('href="/webhooks/', 1)[1].split('"', 1)[0]
    saved = await client.post(
        f"/webhooks/{ref}",
        data={"csrf_token": csrf, "name": "Renamed hook", "target_url": receiver.url},
    )
    assert saved.status_code == 303
    tested = await client.post(f"/webhooks/{ref}/test", data={"csrf_token": csrf})
    assert tested.status_code == 303
    await pump(db, settings, lambda: len(receiver.ok()) >= 1)
    assert json.loads(receiver.ok()[0].body)["event"] == "test"
    detail = await client.get(f"/webhooks/{ref}")
    assert "Renamed hook" in detail.text and "delivered" in detail.text
    assert "Re-activate" not in detail.text
    async with db.transaction() as session:
        await session.execute(text("UPDATE webhooks SET status = 'inactive'"))
    assert "Re-activate" in (await client.get(f"/webhooks/{ref}")).text
    again = await client.post(f"/webhooks/{ref}/activate", data={"csrf_token": csrf})
    assert again.status_code == 303
    assert "The webhook is active again." in (await client.get(again.headers["location"])).text
    # without the CSRF token nothing changes
    assert (await client.post(f"/webhooks/{ref}/delete", data={})).status_code == 403
    deleted = await client.post(f"/webhooks/{ref}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert "No webhooks yet." in (await client.get("/webhooks")).text


async def test_the_page_speaks_italian_and_read_only_administrators_only_look(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, receiver: Receiver
) -> None:
    admin, password = await tenant.add_admin("read_only")
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE partner_admins SET language = 'it' WHERE id = :id"), {"id": admin.id}
        )
    csrf = await portal_login(client, admin.email, password)
    page = await client.get("/webhooks")
    assert "Ancora nessun webhook." in page.text and "Crea webhook" in page.text
    refused = await client.post(
        "/webhooks",
        data={
            "csrf_token": csrf,
            "name": "h",
            "target_url": receiver.url,
            "resource": "locations",
            "event": "all",
        },
    )
    assert refused.status_code == 403
