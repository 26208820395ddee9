"""A new subscriber at a domain another partner family's identity provider claims (issue 10;
docs/identity.md, "Claimed e-mail domains"), seen by the attacker: the precheck gives the
verdict of the POST, and every way of adding a user applies the same rule.

Before, only the database's family trigger (migration 0011) refused such a user, at the
INSERT: the POST answered 409 ``1222`` but its precheck (``/validate``) answered 200 — even
"pending_user_migration" for a user of the claiming partner. Now the rule
(``identity.service.refuse_domain_of_another_family``, in ``subscribers.rules
.check_email_free``) runs over a fact read with the request's other facts, for the POST, the
three precheck variants, the customer portal's "Add users (wholesale)" and the bulk import.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from partnerhub.db import Database
from tests.conftest import assert_error, bearer, portal_login
from tests.customers.portal.helpers import post, row_error, rows
from tests.factories import (
    SUB_WRITE,
    Setup,
    Tenant,
    claim_domains,
    create_template,
    make_org,
    make_tenant,
)

URL = "/v1/wholesale/subscribers"


def domain(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6]}.example"


async def people(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        return {
            table: int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
            for table in ("org_users", "identity_emails", "events")
        }


@pytest.fixture
async def domains(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> dict[str, str]:
    """One domain of each kind, for Acme (``tenant``): free, claimed by Acme, claimed by
    Acme's sub-partner (Acme's family too), claimed by Globex (another family)."""
    found = {
        "free": domain("free"),
        "own": domain("ours"),
        "sub": domain("our-sub"),
        "other": domain("theirs"),
    }
    await claim_domains(client, tenant, [found["own"]])
    sub = await make_tenant(db, "Acme Sub", parent=tenant.partner)
    await claim_domains(client, sub, [found["sub"]])
    await claim_domains(client, other_tenant, [found["other"]])
    return found


def refused_without_a_hint(response: httpx.Response, other: Tenant, field: str) -> None:
    body = assert_error(response, 409, 1222)
    message = str(body["message"])
    assert message.startswith(f"{field}:"), message
    assert "another partner's identity provider" in message
    for secret in (other.partner.name, str(other.partner.id)):
        assert secret.lower() not in message.lower()


@pytest.mark.parametrize("kind", ["free", "own", "sub", "other"])
async def test_precheck_and_post_agree(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    setup: Setup,
    domains: dict[str, str],
    kind: str,
) -> None:
    token = await tenant.token(SUB_WRITE)
    email = f"new.user@{domains[kind]}"
    full = {"customerId": setup.id, "email": email, "packages": ["webex_meetings"]}
    short = {"customerId": setup.id, "email": email}
    template = await create_template(client, tenant)
    to_be = {
        "provisioningId": template["provisioningId"],
        "customerInfo": {"primaryEmail": f"boss@{domains['free']}"},
        "email": email,
    }
    before = await people(db)
    answers = [
        await client.post(f"{URL}/validate", json=body, headers=bearer(token))
        for body in (short, full, to_be)
    ]
    created = await client.post(URL, json=full, headers=bearer(token))
    if kind == "other":
        for answer in [*answers, created]:
            refused_without_a_hint(answer, other_tenant, "email")
        assert await people(db) == before
        return
    for answer in answers:
        assert answer.status_code == 200, answer.text
    assert created.status_code == 200, created.text
    assert created.json()["email"] == email


async def test_a_new_customers_administrator_at_another_familys_domain_fails_the_precheck(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, domains: dict[str, str]
) -> None:
    """Variant 2 (``provisioningId`` + ``customerInfo.primaryEmail`` + ``email``): the
    customer about to be created would be refused (tests/customers/test_domain_family.py)."""
    token = await tenant.token(SUB_WRITE)
    template = await create_template(client, tenant)
    body = {
        "provisioningId": template["provisioningId"],
        "customerInfo": {"primaryEmail": f"boss@{domains['other']}"},
        "email": f"new.user@{domains['own']}",
    }
    answer = await client.post(f"{URL}/validate", json=body, headers=bearer(token))
    refused_without_a_hint(answer, other_tenant, "customerInfo.primaryEmail")


async def test_moving_a_user_of_the_claiming_partner_is_refused_by_both(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    setup: Setup,
    domains: dict[str, str],
) -> None:
    """Globex's user at Globex's domain (no administrator role): Acme asking for that address
    was "pending_user_migration" at the precheck and 409 at the POST; now both refuse it, and
    no pending subscriber nor consent e-mail is made."""
    _, user = await make_org(db, other_tenant, user_email=f"carl@{domains['other']}", roles=[])
    token = await tenant.token(SUB_WRITE)
    body = {"customerId": setup.id, "email": user.email, "packages": ["webex_meetings"]}
    before = await people(db)
    precheck = await client.post(f"{URL}/validate", json=body, headers=bearer(token))
    refused_without_a_hint(precheck, other_tenant, "email")
    created = await client.post(URL, json=body, headers=bearer(token))
    refused_without_a_hint(created, other_tenant, "email")
    assert await people(db) == before
    async with db.transaction() as session:
        mails = (await session.execute(text("SELECT count(*) FROM outbox_emails"))).scalar_one()
    assert mails == 0


async def test_the_bulk_import_refuses_the_rows_at_another_familys_domain(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    setup: Setup,
    domains: dict[str, str],
) -> None:
    token = await tenant.token(SUB_WRITE)
    url = f"/v1/partner/customers/{setup.id}/imports"
    header = "First name,Last name,Email,Package,Location,Phone number,Extension,Admin role"
    lines = [
        header,
        f"Ann,Free,ann@{domains['free']},webex_meetings,,,,",
        f"Bob,Own,bob@{domains['own']},webex_meetings,,,,",
        f"Eve,Other,eve@{domains['other']},webex_meetings,,,,",
        f"Sue,Sub,sue@{domains['sub']},webex_meetings,,,,",
        f"Mal,Other,MAL@{domains['other'].upper()},webex_meetings,,,,",
    ]
    before = await people(db)
    refused = await client.post(url, json={"csv": "\n".join(lines) + "\n"}, headers=bearer(token))
    assert refused.status_code in (400, 409), refused.text
    errors = refused.json()["errors"]
    assert [(e["errorCode"], e["description"].split(",")[0]) for e in errors] == [
        (1222, "row 4"),
        (1222, "row 6"),
    ], errors
    assert all("another partner's identity provider" in e["description"] for e in errors)
    assert await people(db) == before
    # Without those rows the same file is accepted
    kept = [line for line in lines if "Other" not in line]
    accepted = await client.post(url, json={"csv": "\n".join(kept) + "\n"}, headers=bearer(token))
    assert accepted.status_code == 202, accepted.text


async def test_add_users_in_the_customer_portal_refuses_another_familys_domain(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    setup: Setup,
    domains: dict[str, str],
) -> None:
    from partnerhub import ids

    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    cid = ids.encode("CUSTOMER", setup.customer.id, "us")
    user: dict[str, Any] = {"first_name": "Eve", "last_name": "Other", "package": "webex_meetings"}
    before = await people(db)
    refused = await post(
        client,
        csrf,
        f"/org/{cid}/users/add-wholesale",
        {
            **rows(
                {**user, "email": f"eve@{domains['other']}"},
                {**user, "email": f"ann@{domains['own']}"},
            ),
            "action": "next",
        },
    )
    assert refused.status_code == 400, refused.text
    assert row_error(refused.text, 0, "email") == (
        "Email address: addresses of this domain sign in through another partner's identity "
        "provider; use an address of another domain"
    )
    assert row_error(refused.text, 1, "email") is None
    assert await people(db) == before
