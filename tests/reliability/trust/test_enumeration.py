"""Issue 10, item 6: no account enumeration.

The sign-in pages (the partner portal's ``/login``, the email-first ``/signin`` and its
``/signin/password``) and the forgotten-password page answer an unknown address and every kind
of known one with the same page — the same status, the same bytes once the CSRF token and the
typed address are masked — and in the same time:

* a wrong password costs one argon2 verification for every address (a dummy hash for an
  unknown one), and the throttle counts every address alike (test_throttle_concurrency.py);
* a reset request only counts and defers a job; the look-up and the email happen there.

Kinds of known address: an active partner administrator, a deactivated one, a customer user
with a password, one invited but without a password yet, a customer user of an organization
that signs in through single sign-on (for the password forms), and a locked address.

Timing: the median of 8 attempts per kind (interleaved, each from its own client address so the
throttle does not interfere) may differ from the unknown address's by less than 40 % or
150 ms, whichever is larger: a wrong password costs an argon2 verification (tens of ms) and a
difference that large would show; the tolerance absorbs the noise of a shared 2-core machine.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import httpx
import pytest

from partnerhub.models import PartnerAdmin
from tests.conftest import csrf_of
from tests.factories import give_password, make_org
from tests.reliability.trust.conftest import World
from tests.reliability.trust.test_throttle_concurrency import (  # noqa: F401 - settled_server: a fixture
    LOCKOUT,
    client_address,
    settled_server,
)

CSRF_RE = re.compile(r'(name="csrf_token" value=")[^"]+(")')


def masked(response: httpx.Response, email: str) -> str:
    """The page with the CSRF token and the typed address (echoed in the form) masked."""
    text = CSRF_RE.sub(r"\1CSRF\2", response.text)
    for form in (email, quote(email, safe=""), quote_plus(email)):  # links carry it encoded
        text = text.replace(form, "EMAIL")
    return text


# Sign-ins are timed: the addresses' hashes are made at the production cost, as the server's
# dummy hash is (the suite hashes cheaply in-process: tests/conftest.py).
pytestmark = pytest.mark.usefixtures("real_password_cost")


@dataclass
class Kinds:
    """Addresses of every kind; ``several[kind]`` has 2 addresses of each for timing."""

    several: dict[str, list[str]]

    def one(self) -> dict[str, str]:
        return {kind: emails[0] for kind, emails in self.several.items()}


async def make_kinds(world: World) -> Kinds:
    several: dict[str, list[str]] = {
        "unknown": [f"nobody-{uuid.uuid4().hex[:8]}@alpha.example" for _ in range(2)]
    }
    several["partner admin"] = []
    several["deactivated admin"] = []
    several["customer user"] = []
    several["invited user"] = []
    several["sso user"] = []
    for _ in range(2):
        admin, _password = await world.a.add_admin("full_admin")
        several["partner admin"].append(admin.email)
        off, _password = await world.b.add_admin("read_only")
        async with world.db.transaction() as session:
            record = await session.get(PartnerAdmin, off.id)
            assert record is not None
            record.active = False
        several["deactivated admin"].append(off.email)
        _, user = await make_org(world.db, world.a, name="Known")
        await give_password(world.db, user)
        several["customer user"].append(user.email)
        _, invited = await make_org(world.db, world.sub, name="Invited")
        several["invited user"].append(invited.email)
        _, sso = await make_org(
            world.db, world.b, method="partner_saml", idp_entity_id="https://idp.example"
        )
        several["sso user"].append(sso.email)
    return Kinds(several)


Attempt = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": "Wrong-pass-1!"},
        headers=client_address(),
    )


async def signin_password(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/signin")
    return await client.post(
        "/signin/password",
        data={
            "csrf_token": csrf_of(page.text),
            "email": email,
            "password": "Wrong-pass-1!",
            "next": "/",
        },
        headers=client_address(),
    )


async def signin_email(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/signin")
    return await client.post(
        "/signin",
        data={"csrf_token": csrf_of(page.text), "email": email, "next": "/"},
        headers=client_address(),
    )


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/signin/forgot")
    return await client.post(
        "/signin/forgot",
        data={"csrf_token": csrf_of(page.text), "email": email},
        headers=client_address(),
    )


async def same_pages(world: World, attempt: Attempt, kinds: dict[str, str]) -> None:
    async with world.client() as client:
        base = await attempt(client, kinds["unknown"])
        for kind, email in kinds.items():
            answer = await attempt(client, email)
            assert answer.status_code == base.status_code, (kind, answer.status_code)
            assert masked(answer, email) == masked(base, kinds["unknown"]), kind
            assert set(answer.cookies) == set(base.cookies), kind


async def same_time(world: World, attempt: Attempt, several: dict[str, list[str]]) -> None:
    timings: dict[str, list[float]] = {kind: [] for kind in several}
    async with world.client() as client:
        for round_ in range(8):  # interleaved: a slow moment of the machine hits every kind
            for kind, emails in several.items():
                email = emails[round_ % len(emails)]
                started = time.perf_counter()
                answer = await attempt(client, email)
                timings[kind].append(time.perf_counter() - started)
                assert answer.status_code in (200, 401), (kind, answer.status_code)
    base = statistics.median(timings["unknown"])
    for kind, values in timings.items():
        median = statistics.median(values)
        assert abs(median - base) < max(0.4 * base, 0.150), (kind, median, base, timings)


async def test_password_forms_answer_every_address_alike(world: World) -> None:
    kinds = await make_kinds(world)
    for attempt in (login, signin_password):
        await same_pages(world, attempt, kinds.one())


async def test_email_first_step_and_reset_request_answer_every_address_alike(
    world: World,
) -> None:
    kinds = await make_kinds(world)
    password_kinds = {k: v for k, v in kinds.one().items() if k != "sso user"}
    # The email-first step: the password form for every address that does not sign in
    # through single sign-on (docs/security.md, "Enumeration": the SSO route is the one
    # documented exception, decided by the organization's configuration).
    await same_pages(world, signin_email, password_kinds)
    await same_pages(world, forgot, kinds.one())
    # The reset links reached only the platform users (the job's look-up), nobody else.
    messages = await world.mailbox.wait_for(2)
    await asyncio.sleep(1)
    expected = {kinds.one()["customer user"], kinds.one()["invited user"]}
    assert sorted(str(m["To"]) for m in world.mailbox.messages) == sorted(expected), messages


async def test_password_forms_take_the_same_time_for_every_address(world: World) -> None:
    chosen = ("unknown", "partner admin", "customer user", "deactivated admin")
    for attempt in (signin_password, login):  # fresh addresses: 4 attempts each, under the lock
        kinds = await make_kinds(world)
        await same_time(world, attempt, {k: v for k, v in kinds.several.items() if k in chosen})


async def test_reset_request_takes_the_same_time_for_every_address(world: World) -> None:
    kinds = await make_kinds(world)
    await same_time(world, forgot, kinds.several)


async def test_a_locked_address_looks_like_a_locked_unknown_one(world: World) -> None:
    """The lock-out is the email address's, known or not: after the same failures, a locked
    partner administrator, a locked customer user and an unknown address get the same 429."""
    kinds = await make_kinds(world)
    chosen = ("unknown", "partner admin", "customer user", "deactivated admin")
    async with world.client() as client:
        for i, attempt in enumerate((signin_password, login)):  # other addresses each time
            emails = {kind: kinds.several[kind][i] for kind in chosen}
            for email in emails.values():
                for _ in range(LOCKOUT):
                    await attempt(client, email)
            answers = {kind: await attempt(client, email) for kind, email in emails.items()}
            base = answers["unknown"]
            assert base.status_code == 429
            for kind, answer in answers.items():
                assert answer.status_code == 429, kind
                assert masked(answer, emails[kind]) == masked(base, emails["unknown"]), kind
                retry = int(answer.headers["Retry-After"])
                assert abs(retry - int(base.headers["Retry-After"])) <= 30, kind
