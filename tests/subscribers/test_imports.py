"""Bulk onboarding from CSV: every row checked first, all or nothing, a background job with a
result file, and re-running a file creates nothing new."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub import jobs
from partnerhub.db import Database
from partnerhub.models import OrgUser
from tests.conftest import assert_error, bearer
from tests.factories import NUM_WRITE, SUB_WRITE, Setup, Tenant, add_numbers

HEADER = "First name,Last name,Email,Package,Location,Phone number,Extension,Admin role"


def thousand_rows(bad: bool) -> str:
    """1,000 subscribers: even rows meetings-only, odd rows calling with a number."""
    lines = [HEADER]
    for i in range(1000):
        email = f"user{i:04d}@bulk.example"
        if i % 2:
            line = f"User,{i},{email},webex_calling,,+1415555{i:04d},{2000 + i},"
        else:
            line = f"User,{i},{email},webex_meetings,,,,"
        lines.append(line)
    if bad:
        # Spreadsheet rows 12, 502 and 1001 (the header is row 1).
        lines[11] = "User,10,not-an-email,webex_meetings,,,,"
        lines[501] = "User,500,user0500@bulk.example,webex_voice,,,,"
        lines[1000] = "User,999,user0999@bulk.example,webex_calling,,+14155558888,2999,"
    return "\n".join(lines) + "\n"


async def users(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(OrgUser.id)))).scalar_one())


async def run_jobs() -> None:
    await jobs.app.run_worker_async(
        queues=["imports"], wait=False, install_signal_handlers=False, listen_notify=False
    )


@pytest.fixture
async def stocked(client: httpx.AsyncClient, setup: Setup, tenant: Tenant) -> Setup:
    token = await tenant.token(NUM_WRITE)
    await add_numbers(client, token, setup.hq_id, ["+14155550000..0999"])
    return setup


async def test_thousand_rows_three_bad_then_fixed_then_again(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, stocked: Setup
) -> None:
    token = await tenant.token(SUB_WRITE)
    url = f"/v1/partner/customers/{stocked.id}/imports"

    refused = await client.post(url, json={"csv": thousand_rows(bad=True)}, headers=bearer(token))
    body = assert_error(refused, 400, 1003)
    descriptions = [e["description"] for e in body["errors"]]
    assert len(descriptions) == 3, descriptions
    assert descriptions[0].startswith("row 12, email:")
    assert descriptions[1].startswith("row 502, package:")
    assert "not one of the customer's packages" in descriptions[1]
    assert descriptions[2].startswith("row 1001, phone_number:")
    assert [e["errorCode"] for e in body["errors"]] == [1003, 1003, 1013]
    assert await users(db) == 0

    accepted = await client.post(url, json={"csv": thousand_rows(bad=False)}, headers=bearer(token))
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["status"] == "queued" and job["total"] == 1000
    assert accepted.headers["Location"].endswith(f"/imports/{job['id']}")
    await run_jobs()
    done = (await client.get(accepted.headers["Location"], headers=bearer(token))).json()
    assert done["status"] == "succeeded", done
    assert (done["createdCount"], done["existingCount"], done["processed"]) == (1000, 0, 1000)
    assert await users(db) == 1000
    result = await client.get(done["resultUrl"], headers=bearer(token))
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert len(rows) == 1000
    assert rows[1] == {
        "row": "3",
        "email": "user0001@bulk.example",
        "result": "created",
        "subscriber_id": rows[1]["subscriber_id"],
        "phone_number": "+14155550001",
        "extension": "2001",
    }
    sub = await client.get(
        f"/v1/wholesale/subscribers/{rows[1]['subscriber_id']}", headers=bearer(token)
    )
    assert sub.json()["primaryPhoneNumber"] == "+14155550001"

    again = await client.post(url, json={"csv": thousand_rows(bad=False)}, headers=bearer(token))
    assert again.status_code == 202, again.text
    assert again.json()["existingCount"] == 1000
    await run_jobs()
    second = (await client.get(again.headers["Location"], headers=bearer(token))).json()
    assert second["status"] == "succeeded"
    assert (second["createdCount"], second["existingCount"]) == (0, 1000)
    assert await users(db) == 1000
    listed = await client.get(url, headers=bearer(token))
    assert [i["id"] for i in listed.json()["items"]] == [second["id"], done["id"]]


async def test_csv_body_dry_run_and_file_problems(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, stocked: Setup
) -> None:
    token = await tenant.token(SUB_WRITE)
    url = f"/v1/partner/customers/{stocked.id}/imports"
    text = (
        "email,package,phone_number,extension,admin_role\n"
        "a@csv.example,webex_calling,+14155550001,,\n"
        "b@csv.example,webex_calling,+14155550001,,\n"
        "c@csv.example,webex_meetings,,,full_admin\n"
    )
    clash = await client.post(
        url, content=text.encode(), headers={**bearer(token), "Content-Type": "text/csv"}
    )
    body = assert_error(clash, 400, 1013)
    # Row 3 claims the number row 2 already takes; row 4 makes a meetings user full admin.
    assert [e["description"].split(":")[0] for e in body["errors"]] == [
        "row 3, phone_number",
        "row 4, package",
    ]
    assert body["errors"][1]["errorCode"] == 1011

    fixed = text.replace(
        "b@csv.example,webex_calling,+14155550001", "b@csv.example,webex_calling,+14155550002"
    ).replace("full_admin", "")
    dry = await client.post(
        f"{url}?dryRun=true",
        content=fixed.encode(),
        headers={**bearer(token), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert dry.status_code == 200, dry.text
    assert (dry.json()["status"], dry.json()["createdCount"]) == ("checked", 3)
    assert await users(db) == 0

    for csv_text, needle in (
        ("", "empty"),
        ("email,colour\nx@y.example,red\n", "unknown column 'colour'"),
        ("first_name\nAda\n", "missing column"),
        ("email,package\n", "no subscriber rows"),
    ):
        r = await client.post(url, json={"csv": csv_text}, headers=bearer(token))
        assert r.status_code == 400, r.text
        assert needle in r.json()["message"], r.json()
    assert_error(await client.post(url, json={"file": "x"}, headers=bearer(token)), 400, 1002)
    assert_error(await client.post(url, json=["x"], headers=bearer(token)), 400, 1001)
    # text/csv is accepted on this one path only.
    other = await client.post(
        "/v1/wholesale/subscribers",
        content=b"email\n",
        headers={**bearer(token), "Content-Type": "text/csv"},
    )
    assert_error(other, 415, 1401)


async def test_a_number_taken_meanwhile_fails_the_whole_write(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, stocked: Setup
) -> None:
    """The rows were checked, then a request took one of their numbers before the insert:
    the database refuses, the import answers 1013 and writes nothing."""
    from partnerhub.errors import ApiError
    from partnerhub.locations.service import system_principal
    from partnerhub.subscribers import imports
    from partnerhub.subscribers.repository import SubscriberRepository

    text = "email,package,phone_number\n" + "".join(
        f"late{i}@c.example,webex_calling,+141555500{i:02d}\n" for i in range(20)
    )
    token = await tenant.token(SUB_WRITE)
    caught: ApiError | None = None
    async with db.transaction() as session:
        repo = SubscriberRepository(session, system_principal(tenant.partner.id))
        report = await imports.check(
            repo, stocked.customer, imports.parse_csv(text), repo.principal
        )
        assert not report.errors and len(report.plans) == 20
        taken = await client.post(
            "/v1/wholesale/subscribers",
            json={
                "customerId": stocked.id,
                "email": "first@c.example",
                "packages": ["webex_calling"],
                "provisioningParameters": {"primaryPhoneNumber": "+14155550007"},
            },
            headers=bearer(token),
        )
        assert taken.status_code == 200, taken.text
        try:
            await imports.write(repo, stocked.customer, report)
        except ApiError as exc:
            caught = exc
            await session.rollback()
    assert caught is not None and caught.code == 1013
    assert await users(db) == 1


async def test_lost_job_is_reconciled_and_runs_once(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, stocked: Setup
) -> None:
    import asyncio

    from sqlalchemy import text

    from partnerhub.subscribers import tasks

    token = await tenant.token(SUB_WRITE)
    text_csv = "email,package\n" + "".join(f"r{i}@c.example,webex_meetings\n" for i in range(30))
    accepted = await client.post(
        f"/v1/partner/customers/{stocked.id}/imports",
        json={"csv": text_csv},
        headers=bearer(token),
    )
    assert accepted.status_code == 202
    async with db.transaction() as session:
        # The process died between commit and defer: no job, and the import is old enough.
        await session.execute(text("DELETE FROM procrastinate_jobs"))
        await session.execute(
            text("UPDATE subscriber_imports SET created = now() - interval '1 minute'")
        )
    reconciled = await tasks.reconcile_now()
    assert len(reconciled) == 1
    assert await tasks.reconcile_now() == []  # its job is waiting now
    # Two runs at once (the job and, say, a CLI run): one does the work.
    results = await asyncio.gather(
        tasks.perform(db, reconciled[0]), tasks.perform(db, reconciled[0])
    )
    assert [r.status for r in results if r is not None].count("succeeded") >= 1
    await run_jobs()
    done = (await client.get(accepted.headers["Location"], headers=bearer(token))).json()
    assert (done["status"], done["createdCount"]) == ("succeeded", 30)
    assert await users(db) == 30
