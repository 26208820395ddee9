"""A subscriber's ``statusChanged`` (issue 13, "events arrive for every resource and event
kind"): the one path that produces it is the consent move, where a subscriber made
``pending_user_migration`` becomes ``provisioned`` when the user accepts. Both partners have a
``wholesaleSubscribers`` webhook aimed at a real receiver; each receives its own subscriber's
events only, and the move's ``statusChanged`` carries what the GET shows afterwards."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import select

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.models import OrgUser, OutboxEmail
from tests.conftest import Tenant, bearer
from tests.events.receiver import Receiver
from tests.events.test_webhooks import make_webhook, more_rounds, pump
from tests.factories import give_password, make_customer
from tests.identity.org.conftest import PASSWORD, password_signin

URL = "/v1/wholesale/subscribers"
EMAIL = "mover@user.example"


def subscriber(customer_id: str) -> dict[str, Any]:
    return {"customerId": customer_id, "email": EMAIL, "packages": ["webex_meetings"]}


async def test_a_consent_move_reaches_the_webhook_as_status_changed(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    settings: Settings,
    receiver: Receiver,
) -> None:
    token, theirs_token = await tenant.token(*ALL_SCOPES), await other_tenant.token(*ALL_SCOPES)
    ours_hook = await make_webhook(client, token, receiver.url, resource="wholesaleSubscribers")
    theirs_hook = await make_webhook(
        client, theirs_token, receiver.url, resource="wholesaleSubscribers"
    )
    ours, theirs = await make_customer(db, tenant), await make_customer(db, other_tenant)
    held = await client.post(URL, json=subscriber(theirs.id), headers=bearer(theirs_token))
    assert held.status_code == 200, held.text
    pending = await client.post(URL, json=subscriber(ours.id), headers=bearer(token))
    assert pending.status_code == 202, pending.text
    sub_id = pending.json()["id"]

    sent = await client.post(f"{URL}/{sub_id}/emails/consentMove", headers=bearer(token))
    assert sent.status_code == 204, sent.text
    async with db.transaction() as session:
        mail = (
            await session.execute(
                select(OutboxEmail).where(OutboxEmail.kind == "subscriber_consent")
            )
        ).scalar_one()
        holder = (
            await session.execute(
                select(OrgUser).where(
                    OrgUser.email == EMAIL, OrgUser.customer_id == theirs.customer.id
                )
            )
        ).scalar_one()
    link = re.search(r"/consent/(\S+)", mail.body_text)
    assert link is not None
    await give_password(db, holder)
    assert (await password_signin(client, EMAIL, PASSWORD)).status_code == 303
    page = await client.get(f"/consent/{link.group(1)}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    accepted = await client.post(f"/consent/{link.group(1)}", data={"csrf_token": csrf.group(1)})
    assert accepted.status_code == 200, accepted.text
    moved = (await client.get(f"{URL}/{sub_id}", headers=bearer(token))).json()
    assert moved["status"] == "provisioned"

    # ours: created (pending), statusChanged (provisioned); theirs: created, deleted (moved)
    await pump(db, settings, lambda: len(receiver.ok()) >= 4)
    await more_rounds(db, settings, 5)
    bodies = [json.loads(r.body) for r in receiver.ok()]
    by_hook = {
        hook: [(b["event"], b["data"]) for b in bodies if b["id"] == hook]
        for hook in (ours_hook["id"], theirs_hook["id"])
    }
    ours_events = by_hook[ours_hook["id"]]
    assert [event for event, _ in ours_events] == ["created", "statusChanged"]
    assert ours_events[0][1]["status"] == "pending_user_migration"
    changed = ours_events[1][1]
    assert {k: changed.get(k, "(absent)") for k in moved} == moved
    theirs_events = by_hook[theirs_hook["id"]]
    assert [event for event, _ in theirs_events] == ["created", "deleted"]
    assert {data["id"] for _, data in theirs_events} == {held.json()["id"]}
    assert len(bodies) == 4
