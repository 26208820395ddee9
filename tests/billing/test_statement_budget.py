"""Statement budget of ``POST /v1/wholesale/billing/reports``: what it sends to PostgreSQL,
counted at the driver (every psycopg cursor execute, from the ORM's engine, the autocommit
pool of the bearer check and procrastinate's connector alike; ``tests/statements.py``). A
change that adds a statement fails here; raise the budget only with a reason written beside it.

The request is made once first (warm-up: pools connected, the token's last use recorded, so
the once-a-minute ``last_used`` touch is not counted), then counted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from partnerhub import ids
from partnerhub.billing import repository, service
from partnerhub.db import Database
from tests.billing.conftest import BASE, WRITE
from tests.billing.test_reports_api import LAST, body
from tests.conftest import Tenant, assert_error, bearer, make_tenant
from tests.statements import counting

# POST /v1/wholesale/billing/reports with an API token:
# 1. the bearer check with its rate-limit counters (autocommit pool, one statement),
# 2. the facts the rules read: the token's creator (``createdBy``) and, when named, whether
#    ``subPartnerOrgId`` is a direct sub-partner (BillingRepository.new_report_facts),
# 3. the report and its render job (one INSERT ... ON CONFLICT DO NOTHING with the job's
#    procrastinate_defer_jobs_v1 in the same statement); nothing after the commit.
POST_STATEMENTS = 3


def dates(n: int) -> dict[str, Any]:
    return body(
        billingStartDate=(LAST - timedelta(days=n)).isoformat(), billingEndDate=LAST.isoformat()
    )


async def jobs_of(db: Database, report_id: str) -> list[tuple[str, str, str]]:
    raw = ids.decode("BILLING_REPORT", report_id)
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT task_name, queue_name, status FROM procrastinate_jobs"
                " WHERE queueing_lock = :lock AND lock = :lock"
            ),
            {"lock": repository.job_lock(raw)},  # type: ignore[arg-type]
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_post_budget(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    token = await tenant.token(WRITE)
    warm = await client.post(BASE, json=dates(1), headers=bearer(token))
    assert warm.status_code == 200, warm.text
    with counting() as sent:
        response = await client.post(BASE, json=dates(2), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert len(sent) == POST_STATEMENTS, sent.explain()
    assert "INSERT INTO billing_reports" in sent[-1] and "procrastinate_defer_jobs" in sent[-1]
    # The job was written with the report, in its transaction.
    assert await jobs_of(db, response.json()["id"]) == [("billing.render", "billing", "todo")]


async def test_post_for_a_sub_partner_budget(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    sub = await make_tenant(db, "Reseller", parent=tenant.partner)
    token = await tenant.token(WRITE)
    org = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    warm = await client.post(BASE, json=dates(1), headers=bearer(token))
    assert warm.status_code == 200, warm.text
    with counting() as sent:
        response = await client.post(
            BASE, json=dates(1) | {"subPartnerOrgId": org}, headers=bearer(token)
        )
    assert response.status_code == 200, response.text
    assert len(sent) == POST_STATEMENTS, sent.explain()


async def test_a_refused_post_writes_neither_report_nor_job(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    token = await tenant.token(WRITE)
    first = await client.post(BASE, json=dates(3), headers=bearer(token))
    assert first.status_code == 200
    with counting() as sent:
        again = await client.post(BASE, json=dates(3), headers=bearer(token))
    assert_error(again, 409, 1203)
    assert len(sent) == POST_STATEMENTS, sent.explain()  # the insert found the active report
    today = await client.post(
        BASE, json=body(billingEndDate=service.today().isoformat()), headers=bearer(token)
    )
    assert_error(today, 400, 1003)
    async with db.transaction() as session:
        reports = (await session.execute(text("SELECT count(*) FROM billing_reports"))).scalar()
        jobs = (
            await session.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'billing.render'")
            )
        ).scalar()
    assert reports == 1 and jobs == 1
