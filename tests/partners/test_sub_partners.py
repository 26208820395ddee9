"""Sub-partners (CONTRACT section 5): the list, and acting with onBehalfOfSubPartnerOrgId."""

from __future__ import annotations

import uuid

import httpx

from partnerhub import ids
from partnerhub.db import Database
from tests.conftest import assert_error, bearer
from tests.customers.helpers import BASE, READ, SUB_READ, WRITE
from tests.factories import Tenant, create_template, make_tenant, meetings_body


def org(tenant: Tenant) -> str:
    return ids.encode("ORGANIZATION", tenant.partner.id, "us")


async def test_list_sub_partners(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    first = await make_tenant(db, "Sub One", parent=tenant.partner)
    second = await make_tenant(db, "Sub Two", parent=tenant.partner, state="suspended")
    await make_tenant(db, "Not Mine")
    await make_tenant(db, "Grandchild", parent=first.partner)
    token = await tenant.token(SUB_READ)
    response = await client.get("/v1/wholesale/subPartners", headers=bearer(token))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["orgId"] for i in items] == [org(first), org(second)]
    assert items[0]["provisioningState"] == "active"
    assert items[1]["provisioningState"] == "suspended"
    assert items[0]["subscriptionId"] == first.partner.subscription_id
    assert items[0]["created"].endswith("Z") and items[0]["billingStartDate"].endswith("Z")

    suspended = await client.get(
        "/v1/wholesale/subPartners?provisioningState=suspended", headers=bearer(token)
    )
    assert [i["orgId"] for i in suspended.json()["items"]] == [org(second)]
    paged = await client.get("/v1/wholesale/subPartners?max=1", headers=bearer(token))
    assert len(paged.json()["items"]) == 1
    assert paged.headers["Link"].startswith("<https://testserver/v1/wholesale/subPartners?")
    assert "offset=1" in paged.headers["Link"]
    assert_error(
        await client.get(
            "/v1/wholesale/subPartners?provisioningState=sleeping", headers=bearer(token)
        ),
        400,
        1003,
    )
    other = await tenant.token(READ)
    assert_error(await client.get("/v1/wholesale/subPartners", headers=bearer(other)), 403, 1300)


async def test_parent_acts_for_its_sub_partner(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sub = await make_tenant(db, "Reseller", parent=tenant.partner)
    template = await create_template(client, sub)
    token = await tenant.token(WRITE)
    on_behalf = {"onBehalfOfSubPartnerOrgId": org(sub)}
    # without acting for it, the sub-partner's template is not the parent's
    plain = await client.post(
        BASE, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    assert_error(plain, 404, 1100)
    created = await client.post(
        BASE,
        params=on_behalf,
        json=meetings_body(template["provisioningId"]),
        headers=bearer(token),
    )
    assert created.status_code == 202, created.text
    url = created.headers["Location"]
    assert f"onBehalfOfSubPartnerOrgId={org(sub)}" in url
    # the parent sees it only when acting for the sub-partner
    assert (await client.get(url, headers=bearer(token))).status_code == 200
    customer_id = url.split("?")[0].rsplit("/", 1)[1]
    assert_error(await client.get(f"{BASE}/{customer_id}", headers=bearer(token)), 404, 1100)
    assert (await client.get(BASE, headers=bearer(token))).json()["items"] == []
    acting_list = await client.get(BASE, params=on_behalf, headers=bearer(token))
    assert [c["id"] for c in acting_list.json()["items"]] == [customer_id]
    # the sub-partner's own token sees it too
    own = await sub.token(READ)
    assert (await client.get(f"{BASE}/{customer_id}", headers=bearer(own))).status_code == 200
    # the Link of a list acting for a sub-partner keeps the parameter
    for n in range(2):
        await client.post(
            BASE,
            params=on_behalf,
            json=meetings_body(template["provisioningId"], n + 5),
            headers=bearer(token),
        )
    page = await client.get(BASE, params={**on_behalf, "max": "1"}, headers=bearer(token))
    assert f"onBehalfOfSubPartnerOrgId={org(sub)}" in page.headers["Link"]


async def test_only_own_sub_partners(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await make_tenant(db, "Their Reseller", parent=other_tenant.partner)
    grandchild_parent = await make_tenant(db, "Mine", parent=tenant.partner)
    grandchild = await make_tenant(db, "Grandchild", parent=grandchild_parent.partner)
    token = await tenant.token(WRITE)
    for target in (
        org(theirs),
        org(other_tenant),
        org(grandchild),
        org(tenant),
        ids.encode("ORGANIZATION", uuid.uuid4(), "us"),
        ids.encode("CUSTOMER", grandchild_parent.partner.id, "us"),
        "garbage",
    ):
        response = await client.get(
            BASE, params={"onBehalfOfSubPartnerOrgId": target}, headers=bearer(token)
        )
        error = assert_error(response, 404, 1100)
        assert "onBehalfOfSubPartnerOrgId" in str(error["message"])


async def test_suspended_sub_partner_may_only_delete(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sub = await make_tenant(db, "Sleepy", parent=tenant.partner)
    template = await create_template(client, sub)
    token = await tenant.token(WRITE)
    on_behalf = {"onBehalfOfSubPartnerOrgId": org(sub)}
    created = await client.post(
        BASE,
        params=on_behalf,
        json=meetings_body(template["provisioningId"], 1),
        headers=bearer(token),
    )
    assert created.status_code == 202
    customer_id = created.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    url = f"{BASE}/{customer_id}"
    from sqlalchemy import update

    from partnerhub.models import Customer, Partner

    async with db.transaction() as session:
        await session.execute(
            update(Partner)
            .where(Partner.id == sub.partner.id)
            .values(provisioning_state="suspended")
        )
        await session.execute(update(Customer).values(status="provisioned"))
    body = meetings_body(template["provisioningId"], 2)
    assert_error(
        await client.post(BASE, params=on_behalf, json=body, headers=bearer(token)), 403, 1300
    )
    assert_error(
        await client.post(f"{BASE}/validate", params=on_behalf, json=body, headers=bearer(token)),
        403,
        1300,
    )
    assert_error(
        await client.put(
            url, params=on_behalf, json={"packages": ["webex_meetings"]}, headers=bearer(token)
        ),
        403,
        1300,
    )
    # the sub-partner's own credential is just as suspended
    own = await sub.token(WRITE)
    assert_error(await client.post(BASE, json=body, headers=bearer(own)), 403, 1300)
    # reading and deleting still work
    assert (await client.get(url, params=on_behalf, headers=bearer(token))).status_code == 200
    deleted = await client.delete(url, params=on_behalf, headers=bearer(token))
    assert deleted.status_code == 202, deleted.text
