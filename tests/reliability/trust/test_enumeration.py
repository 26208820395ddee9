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
that signs in through single sign-on, and a locked address.

The email-first step routes by the address's **domain** only: a domain an identity provider
claims goes to that IdP for every address of it, known or not; any other address gets the
password form, be it a user of a single sign-on organization, an administrator of a partner
with an IdP for administrators, or nobody. A domain is claimed once across tenants (409
``1222``), so no tenant can reroute another's addresses.

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
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import pytest

from partnerhub import ids
from partnerhub.models import PartnerAdmin
from tests.conftest import Tenant, assert_error, bearer, csrf_of
from tests.factories import give_password, make_org
from tests.reliability.isolation.world import saml_metadata
from tests.reliability.trust.conftest import World
from tests.reliability.trust.test_throttle_concurrency import (  # noqa: F401 - settled_server: a fixture
    LOCKOUT,
    client_address,
    settled_server,
)

CSRF_RE = re.compile(r'(name="csrf_token" value=")[^"]+(")')
CONTINUE_RE = re.compile(r'id="sso-continue" href="([^"]+)"')
IDPS = "/v1/partner/identityProviders"


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
    # The email-first step: the password form for every address of a domain no IdP claims,
    # the single sign-on organization's user's too (docs/security.md, "Enumeration").
    await same_pages(world, signin_email, kinds.one())
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


# --- the email-first step routes by domain only ------------------------------------------------


def target_kind(response: httpx.Response) -> str:
    """Where an answer of ``/signin`` sends the browser: a redirect's path, the single sign-on
    link (its path and IdP), or the password form."""
    if response.is_redirect:
        return "redirect " + urlsplit(response.headers["location"]).path
    found = CONTINUE_RE.search(response.text)
    if found:
        link = urlsplit(found.group(1).replace("&amp;", "&"))
        return f"sso {link.path} {parse_qs(link.query).get('idp')}"
    if 'action="/signin/password"' in response.text:
        return "password"
    return f"other {response.status_code}"


async def register_idp(
    world: World,
    tenant: Tenant,
    entity_id: str,
    *,
    domains: list[str] | None = None,
    for_administrators: bool = False,
) -> httpx.Response:
    """Register a SAML IdP for ``tenant`` through the hub API (its metadata given inline)."""
    body: dict[str, object] = {
        "type": "saml",
        "metadataXml": saml_metadata(entity_id),
        "displayName": "Corporate IdP",
        "forAdministrators": for_administrators,
    }
    if domains is not None:
        body["domains"] = domains
    async with world.client() as client:
        return await client.post(
            IDPS, json=body, headers=bearer(await tenant.token("partnerhub:admin"))
        )


async def indistinguishable(world: World, emails: dict[str, str]) -> dict[str, str]:
    """The email-first answers for ``emails`` (kind → address; ``"unknown"`` among them) have
    the same status, send to the same kind of target, and have the same body once the CSRF
    token and the address are masked. Returns the target kind."""
    async with world.client() as client:
        answers = {kind: await signin_email(client, email) for kind, email in emails.items()}
    base = answers["unknown"]
    kinds = {kind: target_kind(answer) for kind, answer in answers.items()}
    for kind, answer in answers.items():
        assert answer.status_code == base.status_code, (kind, answer.status_code)
        assert kinds[kind] == kinds["unknown"], kinds
        assert masked(answer, emails[kind]) == masked(base, emails["unknown"]), kind
        assert set(answer.cookies) == set(base.cookies), kind
    return kinds


async def test_an_sso_organizations_user_looks_like_an_unknown_address(world: World) -> None:
    """A user of an organization that signs in through its partner's registered IdP, whose
    domain no IdP claims: the same password form as an address nobody has."""
    assert (await register_idp(world, world.b, "https://idp.beta.example")).status_code == 201
    _, user = await make_org(
        world.db, world.b, method="partner_saml", idp_entity_id="https://idp.beta.example"
    )
    kinds = await indistinguishable(
        world, {"unknown": f"nobody-{uuid.uuid4().hex[:8]}@elsewhere.example", "sso": user.email}
    )
    assert kinds["sso"] == "password"


async def test_a_partner_idp_administrator_looks_like_an_unknown_address(world: World) -> None:
    """An administrator of a partner with an IdP for administrators (no domain claimed): the
    same password form, no button naming the partner's IdP."""
    registered = await register_idp(
        world, world.a, "https://idp.alpha.example", for_administrators=True
    )
    assert registered.status_code == 201, registered.text
    kinds = await indistinguishable(
        world,
        {
            "unknown": f"nobody-{uuid.uuid4().hex[:8]}@elsewhere.example",
            "admin": world.a.admin.email,
        },
    )
    assert kinds["admin"] == "password"


async def test_a_claimed_domain_routes_an_unknown_address_like_a_known_one(world: World) -> None:
    """Every address of a claimed domain goes to the claiming IdP: a user of the single sign-on
    organization, a platform (password) user of another organization of the claiming partner
    with that domain, and an address nobody has get the same answer. (A person of another
    partner family at a claimed domain cannot exist: test_domain_family.py.)"""
    domain = f"corp-{uuid.uuid4().hex[:6]}.example"
    registered = await register_idp(world, world.b, "https://idp.beta.example", domains=[domain])
    assert registered.status_code == 201, registered.text
    _, sso = await make_org(
        world.db,
        world.b,
        method="partner_saml",
        idp_entity_id="https://idp.beta.example",
        user_email=f"sso-{uuid.uuid4().hex[:6]}@{domain}",
    )
    _, platform = await make_org(
        world.db, world.b, name="Platform", user_email=f"pw-{uuid.uuid4().hex[:6]}@{domain}"
    )
    await give_password(world.db, platform)
    kinds = await indistinguishable(
        world,
        {
            "unknown": f"nobody-{uuid.uuid4().hex[:8]}@{domain}",
            "sso": sso.email,
            "platform": platform.email,
        },
    )
    ref = ids.encode("PARTNER", world.b.partner.id, ids.HUB)
    assert kinds["unknown"] == f"sso /sso/saml/{ref}/login {[registered.json()['id']]}"


async def test_email_first_step_takes_the_same_time_for_every_address(world: World) -> None:
    kinds = await make_kinds(world)
    assert (await register_idp(world, world.b, "https://idp.example")).status_code == 201
    registered = await register_idp(
        world, world.a, "https://idp.alpha.example", for_administrators=True
    )
    assert registered.status_code == 201
    chosen = ("unknown", "partner admin", "customer user", "sso user")
    await same_time(world, signin_email, {k: v for k, v in kinds.several.items() if k in chosen})


async def test_a_second_tenant_cannot_claim_a_claimed_domain(world: World) -> None:
    """Beta (another partner) and Alpha's own sub-partner try to claim Alpha's domain: 409
    ``1222`` in the contract's shape, nothing written, and the domain still goes to Alpha's
    IdP."""
    domain = f"alpha-{uuid.uuid4().hex[:6]}.example"
    mine = await register_idp(world, world.a, "https://idp.alpha.example", domains=[domain])
    assert mine.status_code == 201, mine.text
    for tenant in (world.b, world.sub):
        taken = await register_idp(
            world, tenant, "https://idp.thief.example", domains=[domain.upper()]
        )
        error = assert_error(taken, 409, 1222)
        assert domain in str(error["message"])
        async with world.client() as client:
            listed = await client.get(IDPS, headers=bearer(await tenant.token("partnerhub:admin")))
        assert listed.status_code == 200 and listed.json()["items"] == []
    async with world.client() as client:
        answer = await signin_email(client, f"someone@{domain}")
    ref = ids.encode("PARTNER", world.a.partner.id, ids.HUB)
    assert target_kind(answer) == f"sso /sso/saml/{ref}/login {[mine.json()['id']]}"
