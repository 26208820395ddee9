"""Customer administrators and roles (S25, S26): the roles catalog, assigning roles, and the
tier rule — administrators hold the organization's creation package level, a full
administrator's package is never lowered (CONTRACT error 1011)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlalchemy import select

from partnerhub import ids
from partnerhub.catalog.customer_roles import CUSTOMER_ROLES
from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.conftest import assert_error, bearer
from tests.factories import SUB_READ, SUB_WRITE, Setup, Tenant, make_customer

URL = "/v1/wholesale/subscribers"


async def first_admin(db: Database, setup: Setup) -> str:
    async with db.transaction() as session:
        admin = (
            await session.execute(
                select(OrgUser).where(
                    OrgUser.customer_id == setup.customer.id,
                    sa.literal("full_admin") == sa.any_(OrgUser.roles),
                )
            )
        ).scalar_one()
    return ids.encode("SUBSCRIBER", admin.id, "us")


async def add_user(
    client: httpx.AsyncClient, token: str, setup: Setup, email: str, package: str
) -> dict[str, str]:
    params = {} if package == "webex_meetings" else {"extension": str(1000 + len(email))}
    r = await client.post(
        URL,
        json={
            "customerId": setup.id,
            "email": email,
            "packages": [package],
            "provisioningParameters": params,
        },
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_roles_catalog(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token(SUB_READ)
    r = await client.get("/v1/partner/customerRoles", headers=bearer(token))
    assert r.status_code == 200
    assert [role["name"] for role in r.json()["items"]] == list(CUSTOMER_ROLES)
    assert r.json()["items"][0]["label"] == "Full administrator"
    assert {role["label"] for role in r.json()["items"]} == {
        "Full administrator",
        "User administrator",
        "Read-only administrator",
        "Support administrator",
        "Location administrator",
    }


async def test_full_administrator_package_cannot_be_lowered(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    setup = await make_customer(
        db,
        tenant,
        packages=["webex_calling", "webex_meetings", "webex_suite"],
        admin_package="webex_suite",
        settings={"creationPackage": "webex_calling"},
    )
    admin = await first_admin(db, setup)
    token = await tenant.token(SUB_WRITE)
    lowered = await client.put(
        f"{URL}/{admin}",
        json={"packages": ["webex_calling"], "provisioningParameters": {"extension": "1000"}},
        headers=bearer(token),
    )
    body = assert_error(lowered, 400, 1011)
    assert "full administrator" in str(body["message"])
    meetings = await client.put(
        f"{URL}/{admin}", json={"package": "webex_meetings"}, headers=bearer(token)
    )
    assert_error(meetings, 400, 1011)
    got = await client.get(f"{URL}/{admin}", headers=bearer(token))
    assert got.json()["packages"] == ["webex_suite"]  # nothing changed


async def test_administrators_hold_the_creation_tier(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    # Created with webex_calling as its highest package: that is the level.
    setup = await make_customer(
        db, tenant, packages=["webex_calling", "webex_meetings"], admin_package="webex_calling"
    )
    token = await tenant.token(SUB_WRITE)
    base = f"/v1/partner/customers/{setup.id}/administrators"
    meetings_user = await add_user(client, token, setup, "meet@c.example", "webex_meetings")
    calling_user = await add_user(client, token, setup, "call@c.example", "webex_calling")

    refused = await client.put(
        f"{base}/{meetings_user['personId']}/roles",
        json={"roles": ["user_admin"]},
        headers=bearer(token),
    )
    body = assert_error(refused, 400, 1011)
    assert "webex_calling" in str(body["message"])

    granted = await client.put(
        f"{base}/{calling_user['personId']}/roles",
        json={"roles": ["user_admin", "location_admin"]},
        headers=bearer(token),
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == ["user_admin", "location_admin"]
    assert granted.json()["email"] == "call@c.example"

    listed = await client.get(base, headers=bearer(token))
    assert sorted(a["email"] for a in listed.json()["items"])[1] == "call@c.example"
    assert len(listed.json()["items"]) == 2  # the first full administrator and the new one
    one = await client.get(f"{base}/{calling_user['personId']}", headers=bearer(token))
    assert one.json()["roles"] == ["user_admin", "location_admin"]

    # An administrator cannot drop below the creation level...
    below = await client.put(
        f"{URL}/{calling_user['id']}", json={"package": "webex_meetings"}, headers=bearer(token)
    )
    assert_error(below, 400, 1011)
    # ...and a plain user can.
    plain = await client.put(
        f"{base}/{calling_user['personId']}/roles", json={"roles": []}, headers=bearer(token)
    )
    assert plain.json()["roles"] == []
    lowered = await client.put(
        f"{URL}/{calling_user['id']}", json={"package": "webex_meetings"}, headers=bearer(token)
    )
    assert lowered.status_code == 200, lowered.text

    unknown = await client.put(
        f"{base}/{calling_user['personId']}/roles",
        json={"roles": ["owner"]},
        headers=bearer(token),
    )
    assert_error(unknown, 400, 1003)
    nobody = await client.put(
        f"{base}/{ids.encode('PEOPLE', setup.customer.id, 'us')}/roles",
        json={"roles": []},
        headers=bearer(token),
    )
    assert_error(nobody, 404, 1100)
    read = await tenant.token(SUB_READ)
    assert_error(
        await client.put(
            f"{base}/{calling_user['personId']}/roles", json={"roles": []}, headers=bearer(read)
        ),
        403,
        1300,
    )


async def test_user_administrator_may_move_within_the_allowed_levels(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    setup = await make_customer(
        db,
        tenant,
        packages=["webex_calling", "webex_meetings", "webex_suite"],
        settings={"creationPackage": "webex_calling"},
    )
    token = await tenant.token(SUB_WRITE)
    user = await add_user(client, token, setup, "suite@c.example", "webex_suite")
    base = f"/v1/partner/customers/{setup.id}/administrators"
    await client.put(
        f"{base}/{user['personId']}/roles", json={"roles": ["support_admin"]}, headers=bearer(token)
    )
    # Lowering from suite to calling keeps the creation level: allowed for a non-full admin.
    ok = await client.put(
        f"{URL}/{user['id']}", json={"packages": ["webex_calling"]}, headers=bearer(token)
    )
    assert ok.status_code == 200, ok.text


async def test_last_full_administrator_is_kept(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    """The organization's last full administrator can be neither demoted nor removed
    (409, errorCode 1213); once another user is a full administrator, both work. Another
    tenant's token sees neither the customer nor the user (404)."""
    setup = await make_customer(
        db, tenant, packages=["webex_calling", "webex_meetings"], admin_package="webex_calling"
    )
    token = await tenant.token(SUB_WRITE)
    base = f"/v1/partner/customers/{setup.id}/administrators"
    lone = await first_admin(db, setup)
    lone_person = ids.encode("PEOPLE", ids.decode("SUBSCRIBER", lone), "us")

    demoted = await client.put(
        f"{base}/{lone_person}/roles", json={"roles": ["user_admin"]}, headers=bearer(token)
    )
    body = assert_error(demoted, 409, 1213)
    assert "last full administrator" in str(body["message"])
    assert_error(await client.delete(f"{URL}/{lone}", headers=bearer(token)), 409, 1213)
    # nothing was written
    still = await client.get(f"{base}/{lone_person}", headers=bearer(token))
    assert still.json()["roles"] == ["full_admin"]

    # another tenant: 404 for the guard's requests, nothing learned
    intruder = await other_tenant.token(SUB_WRITE)
    assert_error(
        await client.put(
            f"{base}/{lone_person}/roles", json={"roles": []}, headers=bearer(intruder)
        ),
        404,
        1100,
    )
    assert_error(await client.delete(f"{URL}/{lone}", headers=bearer(intruder)), 404, 1100)

    # a second full administrator: now the first can be demoted, and the second is the last
    second = await add_user(client, token, setup, "second@c.example", "webex_calling")
    promoted = await client.put(
        f"{base}/{second['personId']}/roles", json={"roles": ["full_admin"]}, headers=bearer(token)
    )
    assert promoted.status_code == 200, promoted.text
    ok = await client.put(
        f"{base}/{lone_person}/roles", json={"roles": ["user_admin"]}, headers=bearer(token)
    )
    assert ok.status_code == 200, ok.text
    assert_error(await client.delete(f"{URL}/{second['id']}", headers=bearer(token)), 409, 1213)
    # a user administrator (not a full one) is removed freely
    removed = await client.delete(f"{URL}/{lone}", headers=bearer(token))
    assert removed.status_code == 204, removed.text


async def test_two_concurrent_demotions_keep_one_full_administrator(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Two full administrators demoted at the same time: one demotion wins, the other is
    refused with 1213 (the check is serialized per organization)."""
    import asyncio

    setup = await make_customer(
        db, tenant, packages=["webex_calling", "webex_meetings"], admin_package="webex_calling"
    )
    token = await tenant.token(SUB_WRITE)
    base = f"/v1/partner/customers/{setup.id}/administrators"
    first = ids.encode("PEOPLE", ids.decode("SUBSCRIBER", await first_admin(db, setup)), "us")
    second = await add_user(client, token, setup, "twin@c.example", "webex_calling")
    await client.put(
        f"{base}/{second['personId']}/roles", json={"roles": ["full_admin"]}, headers=bearer(token)
    )
    for _round in range(3):
        answers = await asyncio.gather(
            *(
                client.put(f"{base}/{p}/roles", json={"roles": []}, headers=bearer(token))
                for p in (first, second["personId"])
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 409], [a.text for a in answers]
        async with db.transaction() as session:
            full = (
                await session.execute(
                    select(sa.func.count(OrgUser.id)).where(
                        OrgUser.customer_id == setup.customer.id,
                        sa.literal("full_admin") == sa.any_(OrgUser.roles),
                    )
                )
            ).scalar_one()
        assert full == 1
        # give the role back to both for the next round
        for p in (first, second["personId"]):
            again = await client.put(
                f"{base}/{p}/roles", json={"roles": ["full_admin"]}, headers=bearer(token)
            )
            assert again.status_code == 200, again.text
