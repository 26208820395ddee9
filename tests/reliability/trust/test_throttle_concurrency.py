"""Issue 10, item 5: brute force is bounded under concurrency.

Every attempt at a secret (a partner administrator's or a customer user's password, a
second-factor code) is counted and judged in one atomic step before the secret is checked, so
N parallel wrong attempts can never all be checked. The trust server runs with the defaults:
``PARTNERHUB_LOCKOUT_FAILURES=5`` consecutive failures lock an email address for
``PARTNERHUB_LOCKOUT_MINUTES=15``, and ``PARTNERHUB_LOGIN_FAILURES_PER_WINDOW=10`` failures a
minute come from one client address. The client address is set with ``X-Forwarded-For`` (the
server trusts it from 127.0.0.1, as behind a reverse proxy), one per test, so the tests do not
share a client address.

Observed through the answers only: an attempt that was checked and wrong is a 401; the attempt
that reaches the lock-out's limit is checked, and answered 429 (it locked the address); every
attempt past a limit is a 429 without being checked, even with the right secret.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import httpx
import psycopg
import pyotp
import pytest

from partnerhub import ids
from tests.conftest import csrf_of
from tests.factories import give_password, make_org
from tests.identity.org.conftest import PASSWORD
from tests.reliability.trust.conftest import TrustServer, World


@pytest.fixture(scope="module", autouse=True)
def settled_server(trust_server: TrustServer) -> None:
    """The module's fresh server: its worker registers and defers its periodic jobs as it
    starts; the first test's table emptying (tests/conftest.py, ``_clean``) waits for that, as
    the two racing can deadlock."""
    deadline = time.monotonic() + 20
    with psycopg.connect(trust_server.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0]:
                break
            time.sleep(0.2)
    time.sleep(2)


LOCKOUT = 5  # the default PARTNERHUB_LOCKOUT_FAILURES
PER_ADDRESS = 10  # the default PARTNERHUB_LOGIN_FAILURES_PER_WINDOW


def client_address() -> dict[str, str]:
    """A client address of this test's own (the proxy header the server trusts)."""
    n = uuid.uuid4().int
    return {"X-Forwarded-For": f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"}


async def login_attempts(
    client: httpx.AsyncClient, emails: list[str], password: str, headers: dict[str, str]
) -> list[httpx.Response]:
    """Parallel POSTs of the partner portal's sign-in form."""
    page = await client.get("/login", headers=headers)
    csrf = csrf_of(page.text)
    return list(
        await asyncio.gather(
            *(
                client.post(
                    "/login",
                    data={"csrf_token": csrf, "email": e, "password": password, "next": "/"},
                    headers=headers,
                )
                for e in emails
            )
        )
    )


def retry_after(response: httpx.Response) -> int:
    return int(response.headers["Retry-After"])


async def test_parallel_wrong_passwords_of_one_administrator_are_bounded(world: World) -> None:
    headers = client_address()
    async with world.client() as client:
        answers = await login_attempts(
            client, [world.a.admin.email] * 30, "wrong-password", headers
        )
        counts = Counter(a.status_code for a in answers)
        assert set(counts) <= {401, 429}, counts
        # At most LOCKOUT attempts were checked: LOCKOUT - 1 answered "wrong", the one that
        # reached the limit and every later one answered 429.
        assert counts[401] <= LOCKOUT - 1, counts
        assert counts[429] >= 30 - (LOCKOUT - 1), counts
        assert all("Retry-After" in a.headers for a in answers if a.status_code == 429)
        # The right password inside the lock is refused too, without being checked.
        [right] = await login_attempts(client, [world.a.admin.email], world.a.password, headers)
        assert right.status_code == 429
        assert 14 * 60 < retry_after(right) <= 15 * 60
        assert "partnerhub_session" not in right.cookies


async def test_parallel_wrong_passwords_from_one_client_address_are_bounded(
    world: World,
) -> None:
    """30 different addresses (password spraying) from one client: the client's limit."""
    headers = client_address()
    emails = [f"spray-{i}@nowhere.example" for i in range(30)]
    async with world.client() as client:
        answers = await login_attempts(client, emails, "Summer2026!", headers)
        counts = Counter(a.status_code for a in answers)
        assert set(counts) <= {401, 429}, counts
        assert counts[401] <= PER_ADDRESS, counts  # failures a minute: the 11th is refused
        assert counts[429] >= 30 - PER_ADDRESS, counts
        # The same client's right password is refused in the same minute.
        [right] = await login_attempts(client, [world.b.admin.email], world.b.password, headers)
        assert right.status_code == 429 and 0 < retry_after(right) <= 60
        # Another client is not concerned.
        [other] = await login_attempts(
            client, [world.b.admin.email], world.b.password, client_address()
        )
        assert other.status_code == 303


async def test_partner_administrator_lock_out(world: World) -> None:
    """Consecutive failures lock a partner administrator's address like a customer user's:
    429 with ``Retry-After``, on both sign-in forms, the right password included; a success
    resets the count; a full administrator unlocks it (it also ends by itself: the same
    mechanism as tests/identity/org's test_lock_ends_by_itself)."""
    admin, password = await world.a.add_admin("read_only")
    async with world.client() as client:
        for _ in range(LOCKOUT - 1):  # a success in between starts the count again
            [wrong] = await login_attempts(client, [admin.email], "nope", client_address())
            assert wrong.status_code == 401
        [ok] = await login_attempts(client, [admin.email], password, client_address())
        assert ok.status_code == 303
        client.cookies.clear()
        statuses = []
        for _ in range(LOCKOUT):  # sequential, each from another client address
            [wrong] = await login_attempts(client, [admin.email], "nope", client_address())
            statuses.append(wrong.status_code)
        assert statuses == [401] * (LOCKOUT - 1) + [429]
        assert 14 * 60 < retry_after(wrong) <= 15 * 60
        [right] = await login_attempts(client, [admin.email], password, client_address())
        assert right.status_code == 429 and "Retry-After" in right.headers
        # The customer-side form applies the same lock to the same address.
        page = await client.get("/signin")
        answer = await client.post(
            "/signin/password",
            data={
                "csrf_token": csrf_of(page.text),
                "email": admin.email,
                "password": password,
                "next": "/",
            },
            headers=client_address(),
        )
        assert answer.status_code == 429 and "Retry-After" in answer.headers
        assert 'id="account-locked"' in answer.text
    # A full administrator of the partner sees the lock and ends it.
    owner, csrf = await world.signed_in(world.a.admin.email, world.a.password)
    try:
        listed = await owner.get("/settings/administrators")
        assert f"{admin.email} <span" in listed.text and "(locked)" in listed.text
        unlocked = await owner.post(
            f"/settings/administrators/{admin.id}/unlock", data={"csrf_token": csrf}
        )
        assert unlocked.status_code == 303
    finally:
        await owner.aclose()
    async with world.client() as client:
        [back] = await login_attempts(client, [admin.email], password, client_address())
        assert back.status_code == 303


async def test_parallel_second_factor_codes_are_bounded(world: World) -> None:
    customer, user = await make_org(world.db, world.a, name="Totp")
    await give_password(world.db, user)
    ref = ids.encode("CUSTOMER", customer.id, ids.HUB)
    headers = client_address()
    async with world.client() as client:
        page = await client.get("/signin")

        async def password() -> httpx.Response:
            return await client.post(
                "/signin/password",
                data={
                    "csrf_token": csrf_of(page.text),
                    "email": user.email,
                    "password": PASSWORD,
                    "next": "/org",
                },
                headers=headers,
            )

        assert (await password()).status_code == 303
        # The user turns TOTP on in the customer portal.
        account = await client.get(f"/org/{ref}/account")
        csrf = csrf_of(account.text)
        begin = await client.post(
            f"/org/{ref}/account/totp", data={"csrf_token": csrf, "step": "begin"}
        )
        secret = begin.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
        totp = pyotp.TOTP(secret)
        on = await client.post(
            f"/org/{ref}/account/totp",
            data={"csrf_token": csrf, "step": "confirm", "code": totp.now()},
        )
        assert 'id="totp-on"' in on.text
        await client.post("/org/logout", data={"csrf_token": csrf})
        # Someone who knows the password signs in and guesses codes, 40 at once.
        signed = await password()
        assert signed.headers["location"] == "/signin/totp"
        form = await client.get("/signin/totp")
        now = time.time()
        current = {totp.at(now + 30 * d) for d in (-2, -1, 0, 1, 2)}
        guesses = [f"{n:06d}" for n in range(100000, 100200) if f"{n:06d}" not in current][:40]
        answers = await asyncio.gather(
            *(
                client.post(
                    "/signin/totp",
                    data={"csrf_token": csrf_of(form.text), "code": code},
                    headers=headers,
                )
                for code in guesses
            )
        )
        counts = Counter(a.status_code for a in answers)
        assert set(counts) <= {401, 429}, counts
        assert counts[401] <= LOCKOUT - 1, counts
        assert counts[429] >= 40 - (LOCKOUT - 1), counts
        # The right code is refused now too (not checked, not spent).
        right = await client.post(
            "/signin/totp",
            data={"csrf_token": csrf_of(form.text), "code": totp.now()},
            headers=headers,
        )
        assert right.status_code == 429 and "Retry-After" in right.headers
        assert (await client.get(f"/org/{ref}/users")).status_code == 303  # still not in
