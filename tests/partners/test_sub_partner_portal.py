"""The portal's sub-partner pages: a full administrator creates a sub-partner through the form,
suspends and reactivates it after a confirmation, adds and deactivates its administrators; a
read-only administrator only looks; another partner finds nothing; every form checks CSRF; the
Italian pages are translated."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import OutboxEmail, Partner, PartnerAdmin
from tests.conftest import bearer, csrf_of, portal_login
from tests.factories import Tenant, make_tenant

SUB_READ = "spark-admin:wholesale_sub_partners_read"
REF = re.compile(r"^/sub-partners/([A-Za-z0-9_\-]+)\?created=1$")


async def _create(client: httpx.AsyncClient, csrf: str, name: str, email: str) -> str:
    response = await client.post(
        "/sub-partners",
        data={"csrf_token": csrf, "name": name, "admin_email": email, "admin_name": "Rita"},
    )
    assert response.status_code == 303, response.text
    match = REF.match(response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


async def test_full_administrator_creates_suspends_and_staffs_a_sub_partner(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/sub-partners")
    assert page.status_code == 200 and 'action="/sub-partners"' in page.text
    assert 'href="/sub-partners"' in page.text  # the main navigation
    ref = await _create(client, csrf, "Portal Reseller", "rita@portal-reseller.example")
    detail = await client.get(f"/sub-partners/{ref}?created=1")
    assert detail.status_code == 200
    assert "Portal Reseller" in detail.text and "rita@portal-reseller.example" in detail.text
    assert 'role="status"' in detail.text and ref in detail.text
    # The invitation is queued for the administrator alone, in the sub-partner's outbox; the
    # parent's outbox does not show it.
    async with db.transaction() as session:
        (mail,) = (await session.execute(select(OutboxEmail))).scalars()
    assert mail.to_address == "rita@portal-reseller.example"
    assert mail.partner_id == ids.decode("ORGANIZATION", ref) != tenant.partner.id
    assert "rita@portal-reseller.example" not in (await client.get("/customers/outbox")).text
    # The API sees the same sub-partner.
    token = await tenant.token(SUB_READ)
    listed = (await client.get("/v1/wholesale/subPartners", headers=bearer(token))).json()
    assert [i["orgId"] for i in listed["items"]] == [ref]

    # Suspend: a confirmation page, then the change.
    confirm = await client.get(f"/sub-partners/{ref}/suspend")
    assert confirm.status_code == 200 and "Portal Reseller" in confirm.text
    assert f'action="/sub-partners/{ref}/suspend"' in confirm.text
    done = await client.post(
        f"/sub-partners/{ref}/suspend", data={"csrf_token": csrf_of(confirm.text)}
    )
    assert done.status_code == 303 and done.headers["location"] == f"/sub-partners/{ref}"
    detail = await client.get(f"/sub-partners/{ref}")
    assert f'href="/sub-partners/{ref}/reactivate"' in detail.text
    listed = (await client.get("/v1/wholesale/subPartners", headers=bearer(token))).json()
    assert listed["items"][0]["provisioningState"] == "suspended"
    back = await client.post(f"/sub-partners/{ref}/reactivate", data={"csrf_token": csrf})
    assert back.status_code == 303
    listed = (await client.get("/v1/wholesale/subPartners", headers=bearer(token))).json()
    assert listed["items"][0]["provisioningState"] == "active"
    assert (await client.get(f"/sub-partners/{ref}/explode")).status_code == 404

    # Administrators: add one (invited), then deactivate them.
    added = await client.post(
        f"/sub-partners/{ref}/administrators",
        data={"csrf_token": csrf, "email": "vi@portal-reseller.example", "role": "read_only"},
    )
    assert added.status_code == 303 and added.headers["location"].endswith("?invited=1")
    async with db.transaction() as session:
        viewer = (
            await session.execute(
                select(PartnerAdmin).where(PartnerAdmin.email == "vi@portal-reseller.example")
            )
        ).scalar_one()
    assert viewer.role == "read_only" and viewer.password_hash is None
    off = await client.post(
        f"/sub-partners/{ref}/administrators/{viewer.id}",
        data={"csrf_token": csrf, "active": "false"},
    )
    assert off.status_code == 303
    async with db.transaction() as session:
        assert (await session.get(PartnerAdmin, viewer.id)).active is False  # type: ignore[union-attr]
    # Refusals are shown on the page, with the contract's reason; nothing is written.
    taken = await client.post(
        f"/sub-partners/{ref}/administrators",
        data={"csrf_token": csrf, "email": tenant.admin.email, "role": "admin"},
    )
    assert taken.status_code == 409 and "already belongs to a user" in taken.text
    empty = await client.post(
        "/sub-partners", data={"csrf_token": csrf, "name": "", "admin_email": "a@b.example"}
    )
    assert empty.status_code == 400 and 'role="alert"' in empty.text
    async with db.transaction() as session:
        partners = (await session.execute(select(Partner))).scalars().all()
    assert len(partners) == 2


async def test_forms_check_csrf(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    ref = await _create(client, csrf, "Csrf Reseller", "c@csrf.example")
    for path, data in [
        ("/sub-partners", {"name": "X", "admin_email": "x@csrf.example"}),
        (f"/sub-partners/{ref}/suspend", {}),
        (f"/sub-partners/{ref}/administrators", {"email": "y@csrf.example", "role": "admin"}),
    ]:
        response = await client.post(path, data={**data, "csrf_token": "forged"})
        assert response.status_code == 403, path
    async with db.transaction() as session:
        sub = await session.get(Partner, ids.decode("ORGANIZATION", ref))
        assert sub is not None and sub.provisioning_state == "active"
        assert len((await session.execute(select(Partner))).scalars().all()) == 2


async def test_read_only_administrator_only_looks(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sub = await make_tenant(db, "Looked At", parent=tenant.partner)
    ref = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    viewer, password = await tenant.add_admin("read_only")
    csrf = await portal_login(client, viewer.email, password)
    page = await client.get("/sub-partners")
    assert page.status_code == 200 and "Looked At" in page.text
    assert 'action="/sub-partners"' not in page.text  # no creation form
    detail = await client.get(f"/sub-partners/{ref}")
    assert detail.status_code == 200 and sub.admin.email in detail.text
    assert f"/sub-partners/{ref}/suspend" not in detail.text
    assert f"/sub-partners/{ref}/administrators" not in detail.text
    for method, path, data in [
        ("POST", "/sub-partners", {"name": "X", "admin_email": "x@ro.example"}),
        ("GET", f"/sub-partners/{ref}/suspend", None),
        ("POST", f"/sub-partners/{ref}/suspend", {}),
        ("POST", f"/sub-partners/{ref}/administrators", {"email": "y@ro.example", "role": "admin"}),
        ("POST", f"/sub-partners/{ref}/administrators/{sub.admin.id}", {"active": "false"}),
    ]:
        if data is None:
            response = await client.get(path)
        else:
            response = await client.request(method, path, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, (path, response.text)
    async with db.transaction() as session:
        partner = await session.get(Partner, sub.partner.id)
        admin = await session.get(PartnerAdmin, sub.admin.id)
    assert partner is not None and partner.provisioning_state == "active"
    assert admin is not None and admin.active


async def test_another_partner_finds_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    sub = await make_tenant(db, "Hidden Reseller", parent=tenant.partner)
    ref = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    csrf = await portal_login(client, other_tenant.admin.email, other_tenant.password)
    assert "Hidden Reseller" not in (await client.get("/sub-partners")).text
    for method, path in [
        ("GET", f"/sub-partners/{ref}"),
        ("GET", f"/sub-partners/{ref}/suspend"),
        ("POST", f"/sub-partners/{ref}/suspend"),
        ("POST", f"/sub-partners/{ref}/administrators"),
        ("POST", f"/sub-partners/{ref}/administrators/{sub.admin.id}"),
    ]:
        data = {"csrf_token": csrf, "email": "z@z.example", "role": "admin", "active": "false"}
        response = await client.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 404, (path, response.text)
        assert "Hidden Reseller" not in response.text and sub.admin.email not in response.text
    async with db.transaction() as session:
        partner = await session.get(Partner, sub.partner.id)
        admins = (
            (
                await session.execute(
                    select(PartnerAdmin).where(PartnerAdmin.partner_id == sub.partner.id)
                )
            )
            .scalars()
            .all()
        )
    assert partner is not None and partner.provisioning_state == "active"
    assert [a.id for a in admins] == [sub.admin.id] and admins[0].active


async def test_italian_pages(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    sub = await make_tenant(db, "Rivenditore", parent=tenant.partner)
    ref = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await client.post("/language", data={"csrf_token": csrf, "lang": "it", "next": "/"})
    page = await client.get("/sub-partners")
    assert "Crea sub-partner" in page.text and "Sub-partner" in page.text
    confirm = await client.get(f"/sub-partners/{ref}/suspend")
    assert "Sospendere Rivenditore?" in confirm.text
