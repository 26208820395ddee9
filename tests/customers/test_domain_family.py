"""A customer's first administrator at a domain another partner family's identity provider
claims (issue 10; docs/identity.md, "Claimed e-mail domains"), seen by the attacker.

Globex claims ``globex-corp.example``; ``/signin`` sends every address of it to Globex's IdP.
Acme asking for a customer whose administrator (``customerInfo.primaryEmail``) is at that
domain is refused at the request — ``POST /v1/wholesale/customers``, its precheck
(``/validate``) and the portal wizard alike — with 409 ``1222`` in the contract's shape, naming
no partner, and nothing written (no customer, event, job, idempotency record, audit row).
Before, the POST answered 202 and provisioning then failed on the database's family trigger
(migration 0011). A domain of the partner's own family (its own claim, its parent's) is
accepted, and the customer provisions.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from partnerhub.db import Database
from tests.conftest import assert_error, bearer
from tests.customers.helpers import BASE, WRITE, running_worker, wait_for
from tests.customers.test_portal import WIZ, customer_fields, field_error, post
from tests.factories import Tenant, claim_domains, create_template, make_tenant, meetings_body
from tests.statements import counting

TABLES = (
    "customers",
    "customer_events",
    "idempotency_keys",
    "procrastinate_jobs",
    "events",
    "audit_events",
    "org_users",
)


def domain(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6]}.example"


async def written(db: Database) -> dict[str, int]:
    """How many rows each table a new customer writes holds."""
    async with db.transaction() as session:
        return {
            table: int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
            for table in TABLES
        }


def with_admin(template: dict[str, Any], email: str, n: int | str = 1) -> dict[str, Any]:
    body = meetings_body(template["provisioningId"], n)
    body["customerInfo"]["primaryEmail"] = email
    return body


@pytest.fixture
async def globex_domain(client: httpx.AsyncClient, other_tenant: Tenant) -> str:
    """A domain Globex (another partner family) claims."""
    claimed = domain("theirs")
    await claim_domains(client, other_tenant, [claimed])
    return claimed


async def test_an_administrator_at_another_familys_domain_is_refused_with_nothing_written(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    template: dict[str, Any],
    token: str,
    globex_domain: str,
) -> None:
    before = await written(db)
    # Any case, and the domain's Unicode form of an IDN claim too (checked in its ASCII form)
    for n, email in enumerate([f"ceo@{globex_domain}", f"CEO@{globex_domain.upper()}"]):
        keyed = {**bearer(token), "Idempotency-Key": f"attack-{n}"}
        refused = await client.post(BASE, json=with_admin(template, email, n), headers=keyed)
        body = assert_error(refused, 409, 1222)
        message = str(body["message"])
        assert message.startswith("customerInfo.primaryEmail:"), message
        assert "another partner's identity provider" in message
        for secret in (other_tenant.partner.name, str(other_tenant.partner.id), "Globex IdP"):
            assert secret.lower() not in message.lower().replace(globex_domain, "")
        precheck = await client.post(
            f"{BASE}/validate", json=with_admin(template, email, n), headers=bearer(token)
        )
        assert assert_error(precheck, 409, 1222)["message"] == message
    assert await written(db) == before

    # The refusal costs no statement more than an accepted POST: bearer check + facts.
    with counting() as sent:
        again = await client.post(
            BASE, json=with_admin(template, f"cfo@{globex_domain}", 9), headers=bearer(token)
        )
    assert_error(again, 409, 1222)
    assert len(sent) == 2, sent.explain()


async def test_an_idn_claim_refuses_the_unicode_form_of_its_domain(
    client: httpx.AsyncClient,
    db: Database,
    other_tenant: Tenant,
    template: dict[str, Any],
    token: str,
) -> None:
    label = f"bücher{uuid.uuid4().hex[:6]}"
    await claim_domains(client, other_tenant, [f"{label}.example"])  # stored as xn--…
    before = await written(db)
    refused = await client.post(
        BASE, json=with_admin(template, f"anna@{label}.example"), headers=bearer(token)
    )
    assert_error(refused, 409, 1222)
    assert await written(db) == before


async def test_precheck_and_post_agree_on_every_kind_of_domain(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    template: dict[str, Any],
    token: str,
    globex_domain: str,
    worker: None,
) -> None:
    """A free domain and the own family's claimed domain (Acme's own claim; Acme's claim seen
    by its sub-partner) are accepted by both and provision; another family's is refused by
    both."""
    own = domain("ours")
    await claim_domains(client, tenant, [own])
    sub = await make_tenant(db, "Acme Sub", parent=tenant.partner)
    sub_template = await create_template(client, sub)
    sub_token = await sub.token(WRITE)
    cases = [
        (template, token, f"owner@{domain('free')}", 202),
        (template, token, f"owner@{own}", 202),
        (sub_template, sub_token, f"sub-owner@{own}", 202),
        (template, token, f"owner@{globex_domain}", 409),
    ]
    for n, (tpl, tok, email, status) in enumerate(cases):
        body = with_admin(tpl, email, n)
        precheck = await client.post(f"{BASE}/validate", json=body, headers=bearer(tok))
        created = await client.post(BASE, json=body, headers=bearer(tok))
        assert created.status_code == status, (email, created.text)
        if status == 409:
            assert_error(precheck, 409, 1222)
            assert_error(created, 409, 1222)
            continue
        assert precheck.status_code == 200, (email, precheck.text)
        settled = await wait_for(client, created.headers["Location"], tok)
        assert settled["status"] == "provisioned", settled
    async with db.transaction() as session:
        admins = set(
            (
                await session.execute(
                    text("SELECT email FROM org_users WHERE 'full_admin' = ANY(roles)")
                )
            )
            .scalars()
            .all()
        )
    assert admins == {email for _, _, email, status in cases if status == 202}


async def test_the_wizard_refuses_it_next_to_the_email_in_english_and_italian(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    template: dict[str, Any],
    globex_domain: str,
) -> None:
    from tests.conftest import portal_login

    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await client.get("/customers/new")
    fields = customer_fields(template, email=f"owner@{globex_domain}")
    refused = await post(client, csrf, f"{WIZ}/customer", fields)
    assert refused.status_code == 400
    assert field_error(refused.text, "email") == (
        "Admin email: addresses of this domain sign in through another partner&#39;s identity "
        "provider; use an address of another domain"
    )
    chosen = await post(client, csrf, "/language", {"lang": "it", "next": f"{WIZ}/customer"})
    assert chosen.status_code == 303
    italian = await post(client, csrf, f"{WIZ}/customer", fields)
    assert italian.status_code == 400
    error = field_error(italian.text, "email") or ""
    assert "accedono tramite il provider di identità di un altro partner" in error, error
    assert "globex" not in error.lower().replace(globex_domain, "")
    # The same field with an address of a free domain passes the step
    fine = await post(client, csrf, f"{WIZ}/customer", {**fields, "email": "owner@pizza.example"})
    assert fine.status_code == 303, fine.text
    async with db.transaction() as session:
        count = (await session.execute(text("SELECT count(*) FROM customers"))).scalar_one()
    assert count == 0


async def test_a_claim_made_after_the_request_leaves_the_customer_without_that_administrator(
    client: httpx.AsyncClient,
    db: Database,
    other_tenant: Tenant,
    template: dict[str, Any],
    token: str,
) -> None:
    """The domain is free when the POST is accepted; Globex claims it before the job creates
    the administrator (no person holds it yet, so the claim is allowed). Provisioning ends
    with the contract's error for that administrator instead of failing on the trigger."""
    later = domain("later")
    created = await client.post(
        BASE, json=with_admin(template, f"owner@{later}"), headers=bearer(token)
    )
    assert created.status_code == 202, created.text
    await claim_domains(client, other_tenant, [later])
    async with running_worker():
        settled = await wait_for(client, created.headers["Location"], token)
    assert settled["status"] == "provisioned_with_errors", settled
    [error] = settled["errors"]
    assert error["errorCode"] == 1222
    assert "another partner's identity provider" in error["description"]
    assert other_tenant.partner.name.lower() not in error["description"].lower()
    async with db.transaction() as session:
        users = (await session.execute(text("SELECT count(*) FROM org_users"))).scalar_one()
    assert users == 0
