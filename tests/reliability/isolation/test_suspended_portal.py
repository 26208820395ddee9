"""A suspended sub-partner may read and delete only, in the portal as in the API (CONTRACT
section 5): its own administrators are refused (403) every page that provisions or changes
customers, subscribers, numbers, imports or installation requests, inside the customer portal
too, and keep reading and deleting."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, update

from partnerhub.db import Database
from partnerhub.models import Customer, InstallationRequest, OrgUser, Partner, PhoneNumber
from tests.conftest import portal_login
from tests.factories import Setup, Tenant, make_customer, make_tenant, number


async def _suspend(db: Database, tenant: Tenant, state: str = "suspended") -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Partner).where(Partner.id == tenant.partner.id).values(provisioning_state=state)
        )


async def _count(db: Database, model: type, customer: Setup) -> int:
    async with db.transaction() as session:
        stmt = (
            select(func.count())
            .select_from(model)
            .where(
                model.customer_id == customer.customer.id  # type: ignore[attr-defined]
            )
        )
        return int((await session.execute(stmt)).scalar_one())


async def _packages(db: Database, customer: Setup) -> list[str]:
    async with db.transaction() as session:
        found = await session.get(Customer, customer.customer.id, populate_existing=True)
        assert found is not None
        return list(found.packages)


async def _sub_partner(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> tuple:
    sub = await make_tenant(db, "Sleepy Reseller", parent=tenant.partner)
    setup = await make_customer(db, sub, numbers=[number(i) for i in range(1, 4)])
    csrf = await portal_login(client, sub.admin.email, sub.password)
    return sub, setup, csrf


async def test_suspended_sub_partner_admins_may_only_read_and_delete(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sub, setup, csrf = await _sub_partner(client, db, tenant)
    await _suspend(db, sub)
    cid = setup.id
    hq = setup.hq_id
    refused = [
        ("GET", "/customers/new", None),
        ("POST", "/customers/wizard/customer", {"name": "New Co"}),
        ("POST", f"/customers/{cid}/packages", {"packages": "webex_meetings"}),
        ("POST", f"/customers/{cid}/approve", {}),
        ("POST", f"/customers/{cid}/setup/numbers", {"location": hq, "numbers": "+14155550090"}),
        ("POST", f"/customers/{cid}/setup/assistance", {"contact_name": "C", "phone": "1"}),
        ("POST", f"/org/{cid}/users", {"email": "new@sleepy.example", "package": "webex_meetings"}),
        ("POST", f"/org/{cid}/users/add-wholesale", {"email-0": "n2@sleepy.example"}),
    ]
    for method, url, form in refused:
        data = None if form is None else {**form, "csrf_token": csrf}
        response = await client.request(method, url, data=data)  # type: ignore[arg-type]
        assert response.status_code == 403, (method, url, response.status_code)
        assert "suspended" in response.text, (url, response.text[:500])
    upload = await client.post(
        f"/customers/{cid}/setup/import",
        data={"csrf_token": csrf},
        files={"file": ("u.csv", b"email,package\nz@sleepy.example,webex_meetings\n", "text/csv")},
    )
    assert upload.status_code == 403, upload.text[:300]
    # nothing was changed
    assert sorted(await _packages(db, setup)) == sorted(setup.customer.packages)
    assert await _count(db, InstallationRequest, setup) == 0
    async with db.transaction() as session:
        users = (await session.execute(select(OrgUser.email))).scalars().all()
        assert not [u for u in users if "sleepy.example" in u]
        assert (
            await session.execute(
                select(func.count())
                .select_from(PhoneNumber)
                .where(PhoneNumber.phone_number == "+14155550090")
            )
        ).scalar_one() == 0
    # reading still works, and so does deleting the customer
    for url in ("/customers", f"/customers/{cid}", f"/customers/{cid}/setup", f"/org/{cid}/users"):
        page = await client.get(url)
        assert page.status_code == 200, (url, page.status_code)
    # the pages offer no action the sub-partner may not take: deleting only
    listing = (await client.get("/customers")).text
    assert 'href="/customers/new"' not in listing
    detail = (await client.get(f"/customers/{cid}")).text
    assert f'action="/customers/{cid}/packages"' not in detail
    assert f'href="/customers/{cid}/delete"' in detail
    deleted = await client.post(f"/customers/{cid}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303, deleted.text[:300]
    async with db.transaction() as session:
        found = await session.get(Customer, setup.customer.id, populate_existing=True)
        assert found is not None and found.status == "deleting"


async def test_active_sub_partner_and_parent_are_not_affected(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    _sub, setup, csrf = await _sub_partner(client, db, tenant)
    fewer = ["webex_meetings"]
    changed = await client.post(
        f"/customers/{setup.id}/packages", data={"csrf_token": csrf, "packages": fewer}
    )
    assert changed.status_code == 303, changed.text[:3000]
    assert sorted(await _packages(db, setup)) == fewer
    # A suspended top-level partner is not a suspended sub-partner: the rule is the API's.
    await _suspend(db, tenant)
    client.cookies.clear()
    own = await make_customer(db, tenant)
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    again = await client.post(
        f"/customers/{own.id}/packages", data={"csrf_token": csrf, "packages": fewer}
    )
    assert again.status_code == 303, again.text[:500]


async def test_suspended_sub_partner_admin_inside_an_organization_only_looks(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """In the customer portal the administrator sees the pages but no action is offered."""
    sub, setup, _csrf = await _sub_partner(client, db, tenant)
    active = await client.get(f"/org/{setup.id}/users")
    assert active.status_code == 200
    add_form = f'<form method="post" action="/org/{setup.id}/users">'
    assert add_form in active.text
    await _suspend(db, sub)
    page = await client.get(f"/org/{setup.id}/users")
    assert page.status_code == 200
    assert add_form not in page.text
    assert (await client.get(f"/org/{setup.id}/users/add-wholesale")).status_code == 403
