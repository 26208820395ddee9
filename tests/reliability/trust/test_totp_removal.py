"""Issue 10, item 7: a second factor is removed only with a second factor.

Turning TOTP off or enrolling a new authenticator needs a current code of the enrolled one, or
the account's password plus one of the recovery codes shown once at enrolment (stored hashed,
each usable once; one also stands in for a code at sign-in when the authenticator is lost).
A stolen customer-portal session without either cannot remove or replace the factor.
"""

from __future__ import annotations

import re
import time

import httpx
import pyotp

from partnerhub import ids
from partnerhub.identity.org_auth import ORG_COOKIE
from partnerhub.models import Customer, OrgUser
from tests.conftest import csrf_of
from tests.factories import give_password, make_org
from tests.identity.org.conftest import PASSWORD, password_signin
from tests.reliability.trust.conftest import World

RECOVERY_RE = re.compile(r'<code class="recovery-code">([^<]+)</code>')


class Authenticator:
    """The user's authenticator app: each code is used once, so hand out fresh steps."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.used = -1

    def code(self) -> str:
        now = int(self.totp.timecode(time.time()))  # type: ignore[arg-type]
        step = max(now - 1, self.used + 1)
        assert step <= now + 1, "no fresh code left in the drift window"
        self.used = step
        return self.totp.generate_otp(step)


async def _enrolled(
    world: World,
) -> tuple[Customer, OrgUser, httpx.AsyncClient, Authenticator, list[str]]:
    """A user of Alpha's organization who turned TOTP on; their signed-in client, their
    authenticator and the recovery codes shown at enrolment."""
    customer, user = await make_org(world.db, world.a, name="Alpha Org")
    await give_password(world.db, user)
    client = world.client()
    assert (await password_signin(client, user.email, PASSWORD)).status_code == 303
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    csrf = csrf_of((await client.get(f"/org/{ref}/account")).text)
    begin = await client.post(
        f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "begin"}
    )
    secret = begin.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    app = Authenticator(secret)
    on = await client.post(
        f"/org/{ref}/account/totp",
        data={"csrf_token": csrf, "step": "confirm", "code": app.code()},
    )
    assert 'id="totp-on"' in on.text, on.text
    recovery = RECOVERY_RE.findall(on.text)
    assert len(recovery) == 10, on.text
    # Shown once: the account page never shows them again.
    assert not RECOVERY_RE.findall((await client.get(f"/org/{ref}/account")).text)
    return customer, user, client, app, recovery


def _stolen(world: World, victim: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser holding a copy of the victim's session cookie."""
    thief = world.client()
    thief.cookies.set(ORG_COOKIE, victim.cookies[ORG_COOKIE])
    return thief


async def _totp_on(client: httpx.AsyncClient, ref: str) -> bool:
    page = await client.get(f"/org/{ref}/account")
    assert page.status_code == 200, page.text
    return 'id="totp-on"' in page.text


async def _second_factor_signin(
    world: World, email: str, code: str, password: str = PASSWORD
) -> httpx.Response:
    client = world.client()
    try:
        first = await password_signin(client, email, password)
        assert first.headers["location"] == "/signin/totp", first.headers
        page = await client.get("/signin/totp")
        return await client.post(
            "/signin/totp", data={"csrf_token": csrf_of(page.text), "code": code}
        )
    finally:
        await client.aclose()


async def test_a_stolen_session_cannot_turn_the_second_factor_off(world: World) -> None:
    customer, user, owner, app, _recovery = await _enrolled(world)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    thief = _stolen(world, owner)
    try:
        csrf = csrf_of((await thief.get(f"/org/{ref}/account")).text)
        for attempt in (
            {},
            {"code": "000000"},
            {"password": PASSWORD},  # the password alone is not enough
            {"password": PASSWORD, "recovery": "aaaaa-bbbbb"},
        ):
            refused = await thief.post(
                f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "disable", **attempt}
            )
            assert refused.status_code == 400, (attempt, refused.text)
            assert await _totp_on(thief, ref)
        # Sign-in still asks for a code of the user's own authenticator.
        assert (await _second_factor_signin(world, user.email, app.code())).status_code == 303
        # The owner, with a current code, turns it off.
        off = await owner.post(
            f"/org/{ref}/account/totp",
            data={"csrf_token": csrf, "step": "disable", "code": app.code()},
        )
        assert off.status_code == 200, off.text
        assert not await _totp_on(owner, ref)
    finally:
        await thief.aclose()
        await owner.aclose()


async def test_a_stolen_session_cannot_replace_the_second_factor(world: World) -> None:
    customer, user, owner, app, _recovery = await _enrolled(world)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    thief = _stolen(world, owner)
    try:
        csrf = csrf_of((await thief.get(f"/org/{ref}/account")).text)
        refused = await thief.post(
            f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "begin"}
        )
        assert refused.status_code == 400, refused.text
        assert 'id="totp-secret"' not in refused.text
        assert await _totp_on(thief, ref)
        # The enrolled authenticator still is the one sign-in asks for.
        assert (await _second_factor_signin(world, user.email, app.code())).status_code == 303
        # With a current code the owner enrols a new authenticator; the old one stops working
        # only once the new one is confirmed.
        begin = await owner.post(
            f"/org/{ref}/account/totp",
            data={"csrf_token": csrf, "step": "begin", "code": app.code()},
        )
        assert begin.status_code == 200, begin.text
        new_app = Authenticator(begin.text.split('id="totp-secret">', 1)[1].split("<", 1)[0])
        assert await _totp_on(owner, ref)
        confirmed = await owner.post(
            f"/org/{ref}/account/totp",
            data={"csrf_token": csrf, "step": "confirm", "code": new_app.code()},
        )
        assert 'id="totp-on"' in confirmed.text, confirmed.text
        # A code of the old authenticator that it has not been refused for yet: later than the
        # step the new one confirmed with, so only the replaced secret refuses it.
        stale = app.totp.generate_otp(app.used - 1)
        old = await _second_factor_signin(world, user.email, stale)
        assert old.status_code == 401
        assert (await _second_factor_signin(world, user.email, new_app.code())).status_code == 303
    finally:
        await thief.aclose()
        await owner.aclose()


async def test_recovery_codes_sign_in_and_turn_the_factor_off_once_each(world: World) -> None:
    customer, user, owner, _app, recovery = await _enrolled(world)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    await owner.aclose()
    # The authenticator is lost: a recovery code stands in for a code at sign-in, once.
    assert (await _second_factor_signin(world, user.email, recovery[0])).status_code == 303
    assert (await _second_factor_signin(world, user.email, recovery[0])).status_code == 401
    client = world.client()
    try:
        await password_signin(client, user.email, PASSWORD)
        page = await client.get("/signin/totp")
        signed = await client.post(
            "/signin/totp", data={"csrf_token": csrf_of(page.text), "code": recovery[1]}
        )
        assert signed.status_code == 303
        csrf = csrf_of((await client.get(f"/org/{ref}/account")).text)
        # A used recovery code, or a recovery code without the password, turns nothing off.
        for attempt in (
            {"password": PASSWORD, "recovery": recovery[1]},
            {"password": "not the password", "recovery": recovery[2]},
            {"recovery": recovery[2]},
        ):
            refused = await client.post(
                f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "disable", **attempt}
            )
            assert refused.status_code == 400, (attempt, refused.text)
            assert await _totp_on(client, ref)
        off = await client.post(
            f"/org/{ref}/account/totp",
            data={
                "csrf_token": csrf,
                "step": "disable",
                "password": PASSWORD,
                "recovery": recovery[3].upper(),
            },
        )
        assert off.status_code == 200, off.text
        assert not await _totp_on(client, ref)
    finally:
        await client.aclose()
