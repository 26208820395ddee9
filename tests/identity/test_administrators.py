"""Partner administrators: API and portal, with the rules that keep a partner manageable."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub import ids
from partnerhub.models import PartnerAdmin
from tests.conftest import assert_error, bearer, csrf_of, portal_login
from tests.factories import Tenant

URL = "/v1/partner/administrators"


async def count_admins(tenant: Tenant) -> int:
    async with tenant.db.transaction() as session:
        stmt = select(func.count(PartnerAdmin.id)).where(
            PartnerAdmin.partner_id == tenant.partner.id
        )
        return int((await session.execute(stmt)).scalar_one())


async def test_create_list_and_change_role(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:admin"))
    created = await client.post(
        URL,
        json={
            "email": "Sales@Acme.example",
            "displayName": "Sam",
            "role": "sales",
            "password": "a-long-password-1",
        },
        headers=token,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["role"] == "sales" and body["active"] is True
    listed = (await client.get(URL, headers=token)).json()["items"]
    assert {a["email"] for a in listed} == {tenant.admin.email, body["email"]}
    changed = await client.put(f"{URL}/{body['id']}", json={"role": "read_only"}, headers=token)
    assert changed.status_code == 200 and changed.json()["role"] == "read_only"
    # The new administrator can sign in with the initial password.
    await portal_login(client, body["email"], "a-long-password-1")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"email": "x@acme.example", "role": "sales", "password": "short"}, 400, 1003),
        ({"email": "not-an-email", "role": "sales", "password": "a-long-password"}, 400, 1003),
        ({"email": "x@acme.example", "role": "owner", "password": "a-long-password"}, 400, 1003),
        ({"role": "sales", "password": "a-long-password"}, 400, 1002),
    ],
)
async def test_refusals(
    client: httpx.AsyncClient, tenant: Tenant, payload: dict[str, str], status: int, code: int
) -> None:
    token = bearer(await tenant.token("partnerhub:admin"))
    assert_error(await client.post(URL, json=payload, headers=token), status, code)
    assert await count_admins(tenant) == 1


async def test_duplicate_email_refused_across_partners(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    token = bearer(await tenant.token("partnerhub:admin"))
    response = await client.post(
        URL,
        json={
            "email": other_tenant.admin.email.upper(),
            "role": "admin",
            "password": "a-long-password-2",
        },
        headers=token,
    )
    assert_error(response, 409, 1204)


async def test_last_full_admin_cannot_be_demoted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    other, _ = await tenant.add_admin("admin")
    token = bearer(await tenant.token("partnerhub:admin"))
    lone = ids.encode("PEOPLE", tenant.admin.id, "us")
    # Acting through a token (no actor admin), the rule is what protects the partner.
    assert_error(
        await client.put(f"{URL}/{lone}", json={"role": "admin"}, headers=token), 409, 1205
    )
    assert_error(
        await client.put(f"{URL}/{lone}", json={"active": False}, headers=token), 409, 1205
    )
    promoted = await client.put(
        f"{URL}/{ids.encode('PEOPLE', other.id, 'us')}", json={"role": "full_admin"}, headers=token
    )
    assert promoted.status_code == 200
    demoted = await client.put(f"{URL}/{lone}", json={"role": "admin"}, headers=token)
    assert demoted.status_code == 200


async def test_scope_and_isolation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    reader = bearer(await tenant.token("partnerhub:templates_read"))
    assert_error(await client.get(URL, headers=reader), 403, 1300)
    intruder = bearer(await other_tenant.token("partnerhub:admin"))
    target = ids.encode("PEOPLE", tenant.admin.id, "us")
    assert_error(
        await client.put(f"{URL}/{target}", json={"role": "sales"}, headers=intruder), 404, 1100
    )
    listed = (await client.get(URL, headers=intruder)).json()["items"]
    assert [a["email"] for a in listed] == [other_tenant.admin.email]


async def test_deactivated_admin_cannot_sign_in(client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin, password = await tenant.add_admin("admin")
    token = bearer(await tenant.token("partnerhub:admin"))
    await client.put(
        f"{URL}/{ids.encode('PEOPLE', admin.id, 'us')}", json={"active": False}, headers=token
    )
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": admin.email, "password": password},
    )
    assert response.status_code == 401


async def test_portal_add_and_self_protection(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/settings/administrators")
    assert page.status_code == 200 and tenant.admin.email in page.text
    added = await client.post(
        "/settings/administrators",
        data={
            "csrf_token": csrf,
            "email": "ro@acme.example",
            "display_name": "Rita",
            "role": "read_only",
            "password": "another-long-pass",
        },
    )
    assert added.status_code == 303
    assert await count_admins(tenant) == 2
    # Without the CSRF token nothing is added.
    refused = await client.post(
        "/settings/administrators",
        data={"email": "x@acme.example", "role": "admin", "password": "another-long-pass"},
    )
    assert refused.status_code == 403
    assert await count_admins(tenant) == 2
    # A full administrator cannot deactivate themselves.
    mine = await client.post(
        f"/settings/administrators/{tenant.admin.id}", data={"csrf_token": csrf, "active": "false"}
    )
    assert mine.status_code == 403
    assert "yourself" in mine.text


async def test_portal_read_only_sees_but_cannot_add(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    reader, password = await tenant.add_admin("read_only")
    csrf = await portal_login(client, reader.email, password)
    page = await client.get("/settings/administrators")
    assert page.status_code == 200 and "Add administrator" not in page.text
    response = await client.post(
        "/settings/administrators",
        data={
            "csrf_token": csrf,
            "email": "x@acme.example",
            "role": "admin",
            "password": "another-long-pass",
        },
    )
    assert response.status_code == 403
    assert await count_admins(tenant) == 2
