"""Issue 10, item 1: an emailed single-use link reaches its recipient only.

The attack: a read-only administrator of the partner asks for a password reset of a customer's
full administrator (the public "forgot password" form), reads the link in the partner's Outbox
and takes the account over. The Outbox keeps its purpose (to whom, what, when, in which state,
the text) with the links hidden, for every partner role; the recipient's copy works.
"""

from __future__ import annotations

import re

from partnerhub.catalog.roles import PARTNER_ROLES
from tests.factories import provisioned_org
from tests.reliability.trust.conftest import World
from tests.reliability.trust.orgs import (
    ORG_PASSWORD,
    forgot,
    link_path,
    mail_to,
    org_sign_in,
    use_password_link,
)

OUTBOX_ID = re.compile(r'href="/customers/outbox/([0-9a-f\-]{36})"')


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


async def test_no_partner_role_reads_a_link_in_the_outbox(world: World) -> None:
    async with world.client() as client:
        org = await provisioned_org(client, world.a, "Victimcorp", "boss@victimcorp.example")
        invite = link_path(await mail_to(world.mailbox, org.admin_email, "set-password"))
        # the attacker (anyone) asks for a reset of the customer's full administrator
        since = len(world.mailbox.messages)
        await forgot(client, org.admin_email)
        reset = link_path(await mail_to(world.mailbox, org.admin_email, "reset-password", since))
    secrets = {"invitation link": token_of(invite), "reset link": token_of(reset)}

    people = [(world.a.admin.email, world.a.password, "full_admin")]
    for role in PARTNER_ROLES:
        if role != "full_admin":
            admin, password = await world.a.add_admin(role)
            people.append((admin.email, password, role))
    for email, password, role in people:
        client, _csrf = await world.signed_in(email, password)
        try:
            listing = await client.get("/customers/outbox")
            assert listing.status_code == 200, (role, listing.text)
            ids = OUTBOX_ID.findall(listing.text)
            assert len(ids) >= 2, (role, listing.text)
            # the outbox keeps its purpose: to whom, what, in which state
            assert org.admin_email in listing.text and "sent" in listing.text
            pages = {"/customers/outbox": listing.text}
            for email_id in ids:
                page = await client.get(f"/customers/outbox/{email_id}")
                assert page.status_code == 200, (role, page.text)
                assert "[hidden]" in page.text, (role, page.text)
                pages[f"/customers/outbox/{email_id}"] = page.text
            detail = await client.get(f"/customers/{org.customer_id}")
            assert detail.status_code == 200
            pages["customer page"] = detail.text
            for where, text in pages.items():
                shown = [name for name, value in secrets.items() if value in text]
                assert not shown, f"{role} reads the {shown} on {where}"
            # the text itself is still there, the link hidden
            reset_mail = next(
                text
                for where, text in pages.items()
                if "reset your password" in text.lower() and where.startswith("/customers/outbox/")
            )
            assert "/account/reset-password/[hidden]" in reset_mail
        finally:
            await client.aclose()

    # the recipient's copy works: the customer's administrator sets a password and signs in
    async with world.client() as owner:
        await use_password_link(owner, reset, ORG_PASSWORD)
        await org_sign_in(owner, org.admin_email)
    async with world.client() as client:  # the reset retired the user's other links
        assert (await client.get(invite)).status_code == 410


async def test_the_customer_portal_shows_no_email_text(world: World) -> None:
    """The organization's own administrators see their emails (to, subject, state), not the
    links sent to their users."""
    async with world.client() as client:
        org = await provisioned_org(client, world.a, "Selfcorp", "chief@selfcorp.example")
        invite = link_path(await mail_to(world.mailbox, org.admin_email, "set-password"))
        await use_password_link(client, invite, ORG_PASSWORD)
        since = len(world.mailbox.messages)
        await forgot(client, org.admin_email)
        reset = link_path(await mail_to(world.mailbox, org.admin_email, "reset-password", since))
        await org_sign_in(client, org.admin_email)
        page = await client.get(f"/org/{org.customer_id}/emails")
        assert page.status_code == 200, page.text
        assert org.admin_email in page.text
        for value in (token_of(invite), token_of(reset)):
            assert value not in page.text


async def test_a_foreign_partner_cannot_open_another_partners_outbox_email(world: World) -> None:
    async with world.client() as client:
        org = await provisioned_org(client, world.a, "Farcorp", "far@farcorp.example")
        await mail_to(world.mailbox, org.admin_email, "set-password")
    client_a, _ = await world.signed_in(world.a.admin.email, world.a.password)
    try:
        ids = OUTBOX_ID.findall((await client_a.get("/customers/outbox")).text)
        assert ids
    finally:
        await client_a.aclose()
    for tenant in (world.b, world.sub):
        client, _ = await world.signed_in(tenant.admin.email, tenant.password)
        try:
            for email_id in ids:
                page = await client.get(f"/customers/outbox/{email_id}")
                assert page.status_code == 404
            listing = await client.get("/customers/outbox")
            assert org.admin_email not in listing.text
        finally:
            await client.aclose()
