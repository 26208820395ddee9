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
from sqlalchemy import text

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
