"""Webhooks and the audit log through ``wxc_sdk`` as a Webex developer uses it (its
``WebhookApi`` and ``AdminAuditEventsApi``, unchanged, only its base URL pointed at the hub),
against a real ``partnerhub serve`` with its worker: create, list, details, update, delete; a
delivered envelope read by the SDK's ``WebhookEvent`` and its ``X-Spark-Signature`` checked as a
Webex receiver checks it; the partner's audit events and categories."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from partnerhub import ids
from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from tests.conftest import LiveServer, Tenant, bearer
from tests.events.receiver import Receiver
from tests.events.test_webhooks import SECRET, location_body
from tests.factories import make_customer


@pytest.fixture(scope="module")
def live_server_env() -> dict[str, str]:
    return {"PARTNERHUB_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true"}


async def test_webhooks_and_audit_through_wxc_sdk(
    live_server: LiveServer,
    live_db: Database,
    acme: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wxc_sdk import WebexSimpleApi
    from wxc_sdk.rest import RestSession
    from wxc_sdk.webhook import (
        Webhook,
        WebhookEvent,
        WebhookEventType,
        WebhookResource,
        WebhookStatus,
    )

    monkeypatch.setattr(RestSession, "BASE", f"{live_server.url}/v1")
    setup = await make_customer(live_db, acme)
    token = await acme.token(*ALL_SCOPES)
    org_id = ids.encode("ORGANIZATION", acme.partner.id, ids.HUB)

    with Receiver() as receiver:

        def make() -> tuple[Webhook, list[Webhook], Webhook]:
            api = WebexSimpleApi(tokens=token)
            made = api.webhook.create(
                name="sdk",
                target_url=receiver.url,
                resource=WebhookResource("locations"),
                event=WebhookEventType.created,
                secret=SECRET,
            )
            assert made.webhook_id is not None
            return made, list(api.webhook.list()), api.webhook.details(made.webhook_id)

        made, listed, details = await asyncio.to_thread(make)
        assert made.status == WebhookStatus.active
        assert made.resource == "locations" and made.event == WebhookEventType.created
        assert made.org_id == org_id and made.secret == SECRET and made.app_id
        assert [w.webhook_id for w in listed] == [made.webhook_id]
        assert details == made

        # a change the webhook carries: the SDK reads the envelope, a Webex receiver's check of
        # the signature holds
        async with httpx.AsyncClient(base_url=live_server.url) as client:
            response = await client.post(
                f"/v1/locations?orgId={setup.org}",
                json=location_body("Through the SDK"),
                headers=bearer(token),
            )
            assert response.status_code == 201, response.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the live server's worker delivers it
            if receiver.ok():
                break
            await asyncio.sleep(0.2)
        (got,) = receiver.ok()
        expected = hmac.new(SECRET.encode(), got.body, hashlib.sha1).hexdigest()
        assert got.headers["x-spark-signature"] == expected
        event = WebhookEvent.model_validate_json(got.body)
        assert event.webhook_id == made.webhook_id and event.name == "sdk"
        assert event.resource == "locations" and event.event == WebhookEventType.created
        assert event.org_id == org_id and event.app_id == made.app_id
        assert event.target_url == receiver.url and event.created_by == made.created_by
        assert isinstance(event.data, dict)
        assert event.data["id"] == response.json()["id"]
        assert event.data["name"] == "Through the SDK"

        def change() -> tuple[Webhook, list[Webhook]]:
            api = WebexSimpleApi(tokens=token)
            assert made.webhook_id is not None
            # wxc_sdk 1.41's ``webhook.update`` sends its fields form-encoded, with snake_case
            # names, under a JSON content type (``put(url, data=dict)``): refused as not JSON
            # (400, errorCode 1001; docs/api-compatibility.md). The SDK's own REST layer with
            # a JSON body, as its other calls send them:
            update = Webhook(
                name="sdk renamed",
                target_url=receiver.url,
                status=WebhookStatus.active,
                created=datetime.now(UTC),
            )
            body = update.model_dump(
                mode="json", by_alias=True, include={"name", "target_url", "status"}
            )
            renamed = Webhook.model_validate(
                api.session.rest_put(api.webhook.ep(made.webhook_id), json=body)
            )
            api.webhook.webhook_delete(made.webhook_id)
            return renamed, list(api.webhook.list())

        renamed, after = await asyncio.to_thread(change)
        assert renamed.webhook_id == made.webhook_id and renamed.name == "sdk renamed"
        assert renamed.target_url == receiver.url and renamed.status == WebhookStatus.active
        assert after == []

    # the audit log: what this partner's token did, in the vendor's shape
    def audit() -> tuple[list[Any], list[str]]:
        api = WebexSimpleApi(tokens=token)
        now = datetime.now(UTC)
        events = list(
            api.admin_audit.list_events(
                org_id=org_id, from_=now - timedelta(hours=1), to_=now + timedelta(minutes=1)
            )
        )
        return events, api.admin_audit.list_event_categories()

    events, categories = await asyncio.to_thread(audit)
    assert events and categories
    for item in events:
        assert item.id and item.created and item.data is not None
        assert item.data.event_category in categories
    webhook_rows = [e for e in events if e.data.target_id == made.webhook_id]
    assert webhook_rows, [e.data for e in events]
    assert all(e.data.tracking_id for e in webhook_rows)
