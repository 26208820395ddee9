"""A parent partner reads the audit log of the sub-partners it manages (their own rows and their
customers'), through the API and the portal's Audit log; a sub-partner never reads its
parent's, nor a sibling's; another partner's sub-partner stays 404."""

from __future__ import annotations

import httpx

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.partners.service import org_id
from tests.audit.conftest import AUDIT_READ, audit_events, partner_org
from tests.conftest import assert_error, portal_login
from tests.factories import Tenant, make_org, make_tenant


def actions(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["data"]["action"] for i in response.json()["items"]]


async def test_a_parent_reads_its_sub_partners_log_and_not_the_reverse(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    sub = await make_tenant(db, "Sub Reseller", parent=tenant.partner)
    sibling = await make_tenant(db, "Sibling", parent=tenant.partner)
    foreign = await make_tenant(db, "Foreign Sub", parent=other_tenant.partner)
    await portal_login(client, sub.admin.email, sub.password)  # a row in the sub's own log
    client.cookies.clear()
    await portal_login(client, tenant.admin.email, tenant.password)  # one in the parent's
    customer, _user = await make_org(db, sub, name="Sub Customer")
    assert customer.org_id is not None
    sub_customer_org = ids.encode("ORGANIZATION", customer.org_id, "us")

    parent = await tenant.token(AUDIT_READ)
    rows = await audit_events(client, parent, org_id(sub.partner))
    assert "signin.success" in actions(rows)
    [signin] = [i for i in rows.json()["items"] if i["data"]["action"] == "signin.success"]
    assert signin["data"]["actorEmail"] == sub.admin.email
    assert signin["data"]["actorOrgName"] == "Sub Reseller"
    assert signin["data"]["targetOrgId"] == org_id(sub.partner)
    assert tenant.admin.email not in rows.text  # the parent's own rows stay in its own log
    # The sub-partner's customers too.
    assert (await audit_events(client, parent, sub_customer_org)).status_code == 200

    # The sub-partner reads its own log, never its parent's nor its sibling's.
    own = await sub.token(AUDIT_READ)
    assert "signin.success" in actions(await audit_events(client, own, org_id(sub.partner)))
    assert_error(await audit_events(client, own, partner_org(tenant)), 404, 1100)
    assert_error(await audit_events(client, own, org_id(sibling.partner)), 404, 1100)
    # Another partner's sub-partner (and its parent) are unknown to us, and we to them.
    assert_error(await audit_events(client, parent, org_id(foreign.partner)), 404, 1100)
    theirs = await other_tenant.token(AUDIT_READ)
    assert_error(await audit_events(client, theirs, org_id(sub.partner)), 404, 1100)
    assert_error(await audit_events(client, theirs, sub_customer_org), 404, 1100)


async def test_the_portal_audit_page_shows_a_sub_partners_log(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    sub = await make_tenant(db, "Sub Reseller", parent=tenant.partner)
    foreign = await make_tenant(db, "Foreign Sub", parent=other_tenant.partner)
    await portal_login(client, sub.admin.email, sub.password)
    own_page = await client.get("/audit")
    assert own_page.status_code == 200
    assert 'name="org"' not in own_page.text  # a sub-partner without sub-partners: no choice
    assert (await client.get("/audit", params={"org": partner_org(tenant)})).status_code == 404
    client.cookies.clear()

    await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get("/audit")
    assert page.status_code == 200
    assert f'<option value="{org_id(sub.partner)}">Sub-partner Sub Reseller</option>' in page.text
    assert sub.admin.email not in page.text
    chosen = await client.get("/audit", params={"org": org_id(sub.partner)})
    assert chosen.status_code == 200
    assert sub.admin.email in chosen.text
    assert f'<option value="{org_id(sub.partner)}" selected>' in chosen.text
    assert (await client.get("/audit", params={"org": org_id(foreign.partner)})).status_code == 404
    assert (await client.get("/audit", params={"org": "nonsense"})).status_code == 404
