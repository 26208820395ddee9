"""Issue 10, item 2: no write into another tenant without that tenant's consent.

Partner B (the attacker) adds as its subscriber the email of a user of partner A's customer
(``pending_user_migration``) and asks for the consent email. Today B reads the consent link in
its Outbox and accepts it itself, deleting A's user. The move must be decided by the user alone,
signed in with the account that moves, through a link only the user receives, which expires;
A's customer's administrators see what happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from sqlalchemy import text

from tests.conftest import bearer, csrf_of
from tests.factories import Org, add_user, provisioned_org
from tests.reliability.trust.conftest import World
from tests.reliability.trust.orgs import (
    give_password,
    link_path,
    mail_to,
    org_sign_in,
    text_of,
    use_password_link,
)
from tests.reliability.trust.test_secrets_outbox import OUTBOX_ID

SUBSCRIBERS = "/v1/wholesale/subscribers"
MOVER = "mover@victimcorp.example"
BOSS_PASSWORD = "boss-Secret-pw-8d2e"


@dataclass
class Scene:
    victim: Org  # A's customer, where the user is today
    attacker: Org  # B's customer, which wants the user
    user_id: str  # the user, as A knows it
    pending_id: str  # B's pending subscriber
    consent: str  # the path of the consent link, as the user received it


async def _scene(world: World, client: httpx.AsyncClient) -> Scene:
    victim = await provisioned_org(client, world.a, "Victimcorp", "boss@victimcorp.example")
    invite = await mail_to(world.mailbox, victim.admin_email, "set-password")
    await use_password_link(client, link_path(invite), BOSS_PASSWORD)
    created = await add_user(client, victim, MOVER)
    assert created.status_code in (200, 201), created.text
    user_id = created.json()["id"]
    await give_password(client, world.mailbox, MOVER)
    attacker = await provisioned_org(client, world.b, "Attackcorp", "evil@attackcorp.example")
    pending = await add_user(client, attacker, MOVER)
    assert pending.status_code == 202, pending.text
    assert pending.json()["status"] == "pending_user_migration"
    pending_id = pending.json()["id"]
    since = len(world.mailbox.messages)
    sent = await client.post(
        f"{SUBSCRIBERS}/{pending_id}/emails/consentMove", headers=bearer(attacker.token)
    )
    assert sent.status_code == 204, sent.text
    consent = link_path(await mail_to(world.mailbox, MOVER, "/consent/", since))
    return Scene(victim, attacker, user_id, pending_id, consent)


async def _still_there(client: httpx.AsyncClient, scene: Scene) -> None:
    mine = await client.get(f"{SUBSCRIBERS}/{scene.user_id}", headers=bearer(scene.victim.token))
    assert mine.status_code == 200, "A's user was removed"
    theirs = await client.get(
        f"{SUBSCRIBERS}/{scene.pending_id}", headers=bearer(scene.attacker.token)
    )
    assert theirs.json()["status"] == "pending_user_migration"


async def test_only_the_user_signed_in_as_themselves_accepts_a_move(world: World) -> None:
    async with world.client() as client:
        scene = await _scene(world, client)
    token = scene.consent.rsplit("/", 1)[1]

    # 1. B cannot obtain the link: not in any page or answer B can read
    b_portal, b_csrf = await world.signed_in(world.b.admin.email, world.b.password)
    try:
        listing = await b_portal.get("/customers/outbox")
        pages = [listing.text]
        for email_id in OUTBOX_ID.findall(listing.text):
            pages.append((await b_portal.get(f"/customers/outbox/{email_id}")).text)
        pages.append((await b_portal.get(f"/customers/{scene.attacker.customer_id}")).text)
        pages.append(
            (
                await b_portal.get(
                    f"{SUBSCRIBERS}/{scene.pending_id}", headers=bearer(scene.attacker.token)
                )
            ).text
        )
        assert len(pages) >= 4
        assert all(token not in page for page in pages), "B reads the consent link"
        assert any("/consent/[hidden]" in page for page in pages)

        # 2. ... nor use it, were it to get it: B signed in to its portal
        page = await b_portal.get(scene.consent)
        assert page.status_code == 200
        assert 'id="consent-accept"' not in page.text and MOVER not in page.text
        refused = await b_portal.post(scene.consent, data={"csrf_token": b_csrf})
        assert refused.status_code == 403, refused.text
    finally:
        await b_portal.aclose()
    async with world.client() as client:
        await _still_there(client, scene)

    # 3. an anonymous visitor
    async with world.client() as anonymous:
        page = await anonymous.get(scene.consent)
        assert page.status_code == 200 and 'id="consent-accept"' not in page.text
        refused = await anonymous.post(scene.consent, data={"csrf_token": "x"})
        assert refused.status_code == 403
        await _still_there(anonymous, scene)

    # 4. another user signed in to the customer portal (A's customer's administrator)
    async with world.client() as other:
        await org_sign_in(other, scene.victim.admin_email, BOSS_PASSWORD)
        page = await other.get(scene.consent)
        assert 'id="consent-accept"' not in page.text
        assert "not the account this request is about" in page.text
        own = await other.get(f"/org/{scene.victim.customer_id}/users")
        refused = await other.post(scene.consent, data={"csrf_token": csrf_of(own.text)})
        assert refused.status_code == 403
        await _still_there(other, scene)

    # 5. the user, signed in as themselves, accepts
    async with world.client() as user:
        await org_sign_in(user, MOVER)
        page = await user.get(scene.consent)
        assert page.status_code == 200 and 'id="consent-accept"' in page.text
        forged = await user.post(scene.consent, data={"csrf_token": "forged"})
        assert forged.status_code == 403
        await _still_there(user, scene)
        since = len(world.mailbox.messages)
        accepted = await user.post(scene.consent, data={"csrf_token": csrf_of(page.text)})
        assert accepted.status_code == 200, accepted.text
        assert 'id="consent-done"' in accepted.text
        # used: the link works no more
        assert (await user.get(scene.consent)).status_code == 404

    async with world.client() as client:
        moved = await client.get(
            f"{SUBSCRIBERS}/{scene.pending_id}", headers=bearer(scene.attacker.token)
        )
        assert moved.json()["status"] == "provisioned"
        gone = await client.get(
            f"{SUBSCRIBERS}/{scene.user_id}", headers=bearer(scene.victim.token)
        )
        assert gone.status_code == 404

    # 6. A's customer's administrators see what happened: an email, and the history
    notice = await mail_to(world.mailbox, scene.victim.admin_email, MOVER, since)
    assert "left" in str(notice["Subject"]) and "accepted" in text_of(notice)
    async with world.client() as boss:
        await org_sign_in(boss, scene.victim.admin_email, BOSS_PASSWORD)
        emails = await boss.get(f"/org/{scene.victim.customer_id}/emails")
        assert str(notice["Subject"]) in emails.text
    a_portal, _ = await world.signed_in(world.a.admin.email, world.a.password)
    try:
        detail = await a_portal.get(f"/customers/{scene.victim.customer_id}")
        assert "event-moved-away" in detail.text and MOVER in detail.text
    finally:
        await a_portal.aclose()


async def test_a_consent_link_expires(world: World) -> None:
    async with world.client() as client:
        scene = await _scene(world, client)
    # time passes: the link was sent longer ago than PARTNERHUB_INVITATION_HOURS (72)
    async with world.db.transaction() as session:
        await session.execute(
            text(
                "UPDATE org_users SET consent_sent = consent_sent - interval '73 hours' "
                "WHERE lower(email) = :email AND status = 'pending_user_migration'"
            ),
            {"email": MOVER},
        )
    async with world.client() as user:
        await org_sign_in(user, MOVER)
        page = await user.get(scene.consent)
        assert page.status_code == 410
        assert re.search(r'data-reason="expired"', page.text)
        refused = await user.post(scene.consent, data={"csrf_token": "any"})
        assert refused.status_code == 410
        await _still_there(user, scene)
        # a new consentMove sends a new link, which works; the old one stays dead
        since = len(world.mailbox.messages)
        sent = await user.post(
            f"{SUBSCRIBERS}/{scene.pending_id}/emails/consentMove",
            headers=bearer(scene.attacker.token),
        )
        assert sent.status_code == 204
        fresh = link_path(await mail_to(world.mailbox, MOVER, "/consent/", since))
        assert (await user.get(scene.consent)).status_code == 404
        page = await user.get(fresh)
        assert page.status_code == 200 and 'id="consent-accept"' in page.text
