"""Issue 10, items 3 and 6: sign-in routing can never be bent by another tenant's data.

``/signin`` routes every address of a claimed e-mail domain to the claiming identity provider
(test_enumeration.py). So a claim must never reach people another partner provisioned, and a
partner must never provision people whose domain another partner's IdP claims: either would
send someone to an IdP of a tenant that is not theirs. A partner's family (itself, its parent,
its sub-partners) shares its domains. The database holds the rule for every writer (migration
0011): both refusals are 409 ``1222`` in the contract's shape, with nothing written, and a
claim racing a creation never lets both commit.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from partnerhub import ids
from tests.conftest import Tenant, assert_error, bearer
from tests.factories import make_org
from tests.reliability.trust.conftest import World
from tests.reliability.trust.test_enumeration import (
    IDPS,
    register_idp,
    signin_email,
    target_kind,
)

ADMINS = "/v1/partner/administrators"
SUBSCRIBERS = "/v1/wholesale/subscribers"


def fresh_domain(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}.example"


async def idps_of(world: World, tenant: Tenant) -> list[dict[str, object]]:
    async with world.client() as client:
        listed = await client.get(IDPS, headers=bearer(await tenant.token("partnerhub:admin")))
    assert listed.status_code == 200, listed.text
    items: list[dict[str, object]] = listed.json()["items"]
    return items


async def add_admin(world: World, tenant: Tenant, email: str) -> httpx.Response:
    async with world.client() as client:
        return await client.post(
            ADMINS,
            json={"email": email, "role": "read_only", "password": "a-long-password-1"},
            headers=bearer(await tenant.token("partnerhub:admin")),
        )


async def test_a_claim_over_another_partners_people_is_refused(world: World) -> None:
    """Alpha's customer has a user at a domain; Beta claims it: 409 ``1222``, Beta's IdP not
    written, and the user's address still gets the password form at /signin."""
    domain = fresh_domain("alpha-people")
    _, user = await make_org(world.db, world.a, user_email=f"ann@{domain}")
    claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[domain])
    error = assert_error(claim, 409, 1222)
    assert domain in str(error["message"])
    assert "alpha" not in str(error["message"]).lower().replace(domain, "")
    assert await idps_of(world, world.b) == []
    async with world.client() as client:
        assert target_kind(await signin_email(client, user.email)) == "password"


async def test_a_claim_over_another_partners_administrator_is_refused(world: World) -> None:
    domain = fresh_domain("alpha-admins")
    assert (await add_admin(world, world.a, f"ops@{domain}")).status_code == 201
    claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[domain])
    assert_error(claim, 409, 1222)
    assert await idps_of(world, world.b) == []


async def test_no_one_of_another_family_is_provisioned_at_a_claimed_domain(world: World) -> None:
    """Beta claims a domain; Alpha can add neither an administrator nor a subscriber there
    (409 ``1222``, nothing written), so no Alpha person is ever routed to Beta's IdP."""
    domain = fresh_domain("beta-claimed")
    claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[domain])
    assert claim.status_code == 201, claim.text

    refused = await add_admin(world, world.a, f"eve@{domain}")
    assert_error(refused, 409, 1222)

    customer, _ = await make_org(world.db, world.a, name="Alpha Org")
    body = {
        "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
        "email": f"bob@{domain}",
        "package": "webex_meetings",
    }
    async with world.client() as client:
        token = await world.a.token("spark-admin:wholesale_subscribers_write")
        answer = await client.post(SUBSCRIBERS, json=body, headers=bearer(token))
        assert_error(answer, 409, 1222)
    async with world.db.transaction() as session:
        found = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM org_users WHERE lower(email) LIKE :d)"
                " + (SELECT count(*) FROM partner_admins WHERE lower(email) LIKE :d)"
            ).bindparams(d=f"%@{domain}"),
        )
    assert found == 0


async def test_a_partners_family_shares_its_domains(world: World) -> None:
    """Alpha claims a domain: Alpha's sub-partner adds an administrator there, and Alpha's own
    customers keep provisioning people there."""
    domain = fresh_domain("alpha-family")
    claim = await register_idp(world, world.a, "https://idp.alpha.example", domains=[domain])
    assert claim.status_code == 201, claim.text
    assert (await add_admin(world, world.sub, f"sub-ops@{domain}")).status_code == 201
    _, user = await make_org(world.db, world.a, user_email=f"carl@{domain}")
    assert user.email.endswith(domain)


async def test_a_claim_racing_a_creation_never_both_commit(world: World) -> None:
    """Beta claims a domain while Alpha adds an administrator at it, twelve times over: each
    time exactly one of the two wins, and the other is the contract's 409."""
    for round_ in range(12):
        domain = fresh_domain(f"race{round_}")
        claim, admin = await asyncio.gather(
            register_idp(world, world.b, f"https://idp{round_}.beta.example", domains=[domain]),
            add_admin(world, world.a, f"racer@{domain}"),
        )
        statuses = sorted([claim.status_code, admin.status_code])
        assert statuses == [201, 409], (round_, claim.text, admin.text)
        loser = claim if claim.status_code == 409 else admin
        assert_error(loser, 409, 1222)


# --- internationalized domains: one domain whatever its spelling ---------------------------
# Addresses are stored as email-validator normalizes them (an internationalized domain in
# Unicode, lower-cased), claims in the domain's lower-case ASCII form (IDNA, ``xn--``): the
# rule and the routing compare the two as one domain.


def idn_domain(tag: str) -> tuple[str, str]:
    """A fresh internationalized domain: its Unicode and its ASCII (punycode) spelling."""
    unicode = f"bücher-{tag}-{uuid.uuid4().hex[:6]}.example"
    return unicode, unicode.encode("idna").decode()


async def add_subscriber(world: World, tenant: Tenant, email: str) -> httpx.Response:
    customer, _ = await make_org(world.db, tenant, name=f"Org {uuid.uuid4().hex[:6]}")
    body = {
        "customerId": ids.encode("CUSTOMER", customer.id, ids.HUB),
        "email": email,
        "package": "webex_meetings",
    }
    async with world.client() as client:
        token = await tenant.token("spark-admin:wholesale_subscribers_write")
        return await client.post(SUBSCRIBERS, json=body, headers=bearer(token))


async def test_an_idn_claim_over_another_partners_administrator_is_refused(world: World) -> None:
    """Alpha's administrator at a domain written in Unicode (mixed case); Beta claims the
    domain's punycode (upper case): 409 ``1222``, Beta's IdP not written."""
    unicode, ascii_ = idn_domain("admins")
    assert (await add_admin(world, world.a, f"Ops@{unicode.upper()}")).status_code == 201
    claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[ascii_.upper()])
    assert_error(claim, 409, 1222)
    assert await idps_of(world, world.b) == []


async def test_an_idn_claim_over_another_partners_subscriber_is_refused(world: World) -> None:
    """Alpha's subscriber at a domain written in punycode; Beta claims it in Unicode, and in
    punycode: 409 ``1222`` both times, and the subscriber still gets the password form."""
    unicode, ascii_ = idn_domain("people")
    email = f"Bob@{ascii_.upper()}"
    created = await add_subscriber(world, world.a, email)
    assert created.status_code in (200, 201, 202), created.text
    for spelling in (unicode.title(), ascii_):
        claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[spelling])
        assert_error(claim, 409, 1222)
    assert await idps_of(world, world.b) == []
    async with world.client() as client:
        assert target_kind(await signin_email(client, email)) == "password"
        assert target_kind(await signin_email(client, f"bob@{unicode}")) == "password"


async def test_no_one_is_provisioned_at_another_familys_idn_domain(world: World) -> None:
    """Beta claims a domain in Unicode (mixed case); Alpha can add neither an administrator
    nor a subscriber at its punycode or its Unicode spelling: 409 ``1222``, nothing written."""
    unicode, ascii_ = idn_domain("claimed")
    claim = await register_idp(
        world, world.b, "https://idp.beta.example", domains=[unicode.capitalize()]
    )
    assert claim.status_code == 201, claim.text
    assert claim.json()["domains"] == [ascii_]
    for domain in (ascii_.upper(), unicode.upper()):
        assert_error(await add_admin(world, world.a, f"eve@{domain}"), 409, 1222)
        assert_error(await add_subscriber(world, world.a, f"bob@{domain}"), 409, 1222)
    async with world.db.transaction() as session:
        found = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM org_users WHERE email LIKE :u OR email LIKE :a)"
                " + (SELECT count(*) FROM partner_admins WHERE email LIKE :u OR email LIKE :a)"
            ).bindparams(u=f"%@{unicode}", a=f"%@{ascii_}"),
        )
    assert found == 0


async def test_a_person_at_another_familys_idn_domain_is_refused_by_the_database(
    world: World,
) -> None:
    """The database's own rule (the one every writer meets, and the one a race meets): an
    address stored in its normalized form (Unicode domain) at a domain another family claims
    (ASCII) is refused, through the API and by an update written straight to the table."""
    unicode, ascii_ = idn_domain("db")
    claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[ascii_])
    assert claim.status_code == 201, claim.text
    assert (await add_admin(world, world.a, f"ops@{unicode}")).status_code == 409
    async with world.db.transaction() as session:
        admin_id = await session.scalar(
            text("SELECT id FROM partner_admins WHERE partner_id = :p LIMIT 1").bindparams(
                p=world.a.partner.id
            )
        )
    assert admin_id is not None
    with pytest.raises(IntegrityError) as refused:
        async with world.db.transaction() as session:
            await session.execute(
                text("UPDATE partner_admins SET email = :e WHERE id = :i").bindparams(
                    e=f"moved-{uuid.uuid4().hex[:6]}@{unicode}", i=admin_id
                )
            )
    assert refused.value.orig.diag.constraint_name == "uq_sso_domains_one_family"  # type: ignore[union-attr]


async def test_an_idn_claim_racing_a_creation_never_both_commit(world: World) -> None:
    """Beta claims a domain in punycode while Alpha adds an administrator at its Unicode
    spelling, six times over: each time exactly one of the two wins."""
    for round_ in range(6):
        unicode, ascii_ = idn_domain(f"race{round_}")
        claim, admin = await asyncio.gather(
            register_idp(world, world.b, f"https://idp{round_}.beta.example", domains=[ascii_]),
            add_admin(world, world.a, f"racer@{unicode.upper()}"),
        )
        statuses = sorted([claim.status_code, admin.status_code])
        assert statuses == [201, 409], (round_, claim.text, admin.text)
        loser = claim if claim.status_code == 409 else admin
        assert_error(loser, 409, 1222)


async def test_signin_routes_both_spellings_of_an_idn_domain_to_its_idp(world: World) -> None:
    """Beta claims a domain in Unicode: an address at it, written in Unicode, in punycode, in
    upper case, goes to Beta's IdP every time."""
    unicode, ascii_ = idn_domain("route")
    claim = await register_idp(world, world.b, "https://idp.beta.example", domains=[unicode])
    assert claim.status_code == 201, claim.text
    ref = ids.encode("PARTNER", world.b.partner.id, ids.HUB)
    expected = f"sso /sso/saml/{ref}/login {[claim.json()['id']]}"
    async with world.client() as client:
        for email in (f"x@{unicode}", f"x@{ascii_}", f"X@{unicode.upper()}", f"x@{ascii_.upper()}"):
            assert target_kind(await signin_email(client, email)) == expected, email
