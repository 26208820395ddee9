"""Issue 10, item 1, without SMTP: the emails stay in the outbox; the portal shows them with
their links hidden, and the operator reads the full text on the machine
(``partnerhub outbox list`` / ``partnerhub outbox show ID``) to hand a link over.

A server of its own (``mailless_server``), in a module of its own: two servers on one database
would share one job queue, and the other one would send the emails.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from partnerhub.db import Database
from tests.conftest import csrf_of
from tests.factories import Tenant, make_tenant, provisioned_org
from tests.reliability.trust.conftest import TrustServer, partnerhub_cli
from tests.reliability.trust.orgs import ORG_PASSWORD, org_sign_in, use_password_link
from tests.reliability.trust.test_secrets_outbox import OUTBOX_ID

LINK = re.compile(r"https?://\S+(/account/set-password/[A-Za-z0-9_\-.]+)")


@pytest.fixture
async def partner(mailless_server: TrustServer, clean_db: str) -> AsyncIterator[Tenant]:
    db = Database(mailless_server.database_url, pool_size=2)
    try:
        yield await make_tenant(db, "Alpha Telecom")
    finally:
        await db.dispose()


async def test_without_smtp_links_are_read_on_the_machine_only(
    mailless_server: TrustServer, partner: Tenant
) -> None:
    async with httpx.AsyncClient(base_url=mailless_server.url, timeout=30) as client:
        org = await provisioned_org(client, partner, "Quietcorp", "boss@quietcorp.example")
        read_only, password = await partner.add_admin("read_only")
        page = await client.get("/login")
        signed_in = await client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "email": read_only.email,
                "password": password,
                "next": "/",
            },
        )
        assert signed_in.status_code == 303
        listing = await client.get("/customers/outbox")
        (email_id,) = OUTBOX_ID.findall(listing.text)
        assert "Stored (no SMTP server)" in listing.text and org.admin_email in listing.text
        shown = await client.get(f"/customers/outbox/{email_id}")
        assert shown.status_code == 200
        assert "/account/set-password/[hidden]" in shown.text

    # the operator, on the machine
    listed = partnerhub_cli(mailless_server, "outbox", "list", "--status", "stored")
    assert listed.returncode == 0, listed.stderr
    assert email_id in listed.stdout and "admin_invite" in listed.stdout
    assert "set-password" not in listed.stdout  # the list shows no text
    full = partnerhub_cli(mailless_server, "outbox", "show", email_id)
    assert full.returncode == 0, full.stderr
    assert f"To: {org.admin_email}" in full.stdout
    match = LINK.search(full.stdout)
    assert match, full.stdout
    path = match.group(1)
    assert path.rsplit("/", 1)[1] not in shown.text
    unknown = partnerhub_cli(mailless_server, "outbox", "show", "not-an-id")
    assert unknown.returncode == 2
    missing = partnerhub_cli(mailless_server, "outbox", "show", str(uuid.uuid4()))
    assert missing.returncode == 1

    # ... hands the link over, and it works for its recipient
    async with httpx.AsyncClient(base_url=mailless_server.url, timeout=30) as owner:
        await use_password_link(owner, path, ORG_PASSWORD)
        await org_sign_in(owner, org.admin_email)
