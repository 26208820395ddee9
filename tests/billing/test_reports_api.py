"""The four billing report operations (CONTRACT section 5): every field rule, filter, status
and error, tenant isolation and the signed download link."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from partnerhub import ids
from partnerhub.billing import service
from partnerhub.db import Database
from partnerhub.identity.org_auth import sign_link_token
from tests.billing.conftest import BASE, READ, WRITE, wait_report
from tests.conftest import Tenant, assert_error, bearer, make_tenant

# Last month. "Today" is read at each use (service.today, the server's clock): a suite that
# runs across midnight must not call yesterday "today".
LAST = service.today().replace(day=1) - timedelta(days=1)  # last day of last month
FIRST = LAST.replace(day=1)


def body(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "billingStartDate": FIRST.isoformat(),
        "billingEndDate": LAST.isoformat(),
    }
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


async def create(
    client: httpx.AsyncClient, token: str, status: int = 200, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(BASE, json=body(**overrides), headers=bearer(token))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_create_answers_the_vendor_shape_with_defaults(
    client: httpx.AsyncClient, token: str
) -> None:
    created = await create(client, token)
    assert set(created) == {"id", "billingStartDate", "billingEndDate", "type", "category"}
    assert created["billingStartDate"] == FIRST.isoformat()
    assert created["billingEndDate"] == LAST.isoformat()
    assert created["type"] == "PARTNER" and created["category"] == "RECONCILIATION"
    assert ids.decode("BILLING_REPORT", created["id"]) is not None
    got = await client.get(f"{BASE}/{created['id']}", headers=bearer(token))
    assert got.status_code == 200
    report = got.json()
    assert report["status"] == "IN_PROGRESS"  # no worker in this test
    assert report["created"].endswith("Z") and report["errors"] == []
    assert "tempDownloadURL" not in report
    # The test factory's tokens have no creator: no createdBy (the portal test has one).
    assert "createdBy" not in report


async def test_types_and_categories(client: httpx.AsyncClient, token: str) -> None:
    for kind in ("PARTNER", "CUSTOMER", "USER"):
        created = await create(client, token, type=kind, category="POINT_IN_TIME")
        assert created["type"] == kind and created["category"] == "POINT_IN_TIME"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"billingStartDate": None}, 1002, "billingStartDate"),
        ({"billingEndDate": None}, 1002, "billingEndDate"),
        ({"billingStartDate": ""}, 1002, "billingStartDate"),
        ({"billingStartDate": "2026/11/01"}, 1003, "billingStartDate"),
        ({"billingStartDate": "2026-02-30"}, 1003, "billingStartDate"),
        ({"billingEndDate": "yesterday"}, 1003, "billingEndDate"),
        ({"billingStartDate": "2026-11-01T00:00:00Z"}, 1003, "billingStartDate"),
        ({"type": "RESELLER"}, 1003, "type"),
        ({"category": "MONTHLY"}, 1003, "category"),
    ],
)
async def test_invalid_fields(
    client: httpx.AsyncClient, token: str, overrides: dict[str, Any], code: int, field: str
) -> None:
    response = await client.post(BASE, json=body(**overrides), headers=bearer(token))
    error = assert_error(response, 400, code)
    assert field in str(error["message"])
    assert (await client.get(BASE, headers=bearer(token))).json()["items"] == []


async def test_date_rules(client: httpx.AsyncClient, token: str) -> None:
    today = service.today()  # read now, not at import: the suite may run across midnight
    cases = [
        (LAST.isoformat(), FIRST.isoformat()),  # start after end
        (FIRST.isoformat(), today.isoformat()),  # end today
        (FIRST.isoformat(), (today + timedelta(days=3)).isoformat()),  # end in the future
        (date(today.year - 6, 1, 1).isoformat(), date(today.year - 6, 1, 31).isoformat()),
    ]
    for start, end in cases:
        response = await client.post(
            BASE,
            json={"billingStartDate": start, "billingEndDate": end},
            headers=bearer(token),
        )
        assert_error(response, 400, 1003)
    yesterday = (today - timedelta(days=1)).isoformat()
    ok = await create(client, token, billingStartDate=yesterday, billingEndDate=yesterday)
    assert ok["billingEndDate"] == yesterday


async def test_body_rules(client: httpx.AsyncClient, token: str) -> None:
    assert_error(
        await client.post(
            BASE, content=b"{", headers={**bearer(token), "Content-Type": "application/json"}
        ),
        400,
        1001,
    )
    assert_error(
        await client.post(BASE, json={**body(), "unknown": 1}, headers=bearer(token)), 400, 1003
    )
    assert_error(
        await client.post(BASE, json={**body(), "internal": "yes"}, headers=bearer(token)),
        400,
        1003,
    )
    created = await create(client, token, internal=True)
    assert created["type"] == "PARTNER"


async def test_duplicate_is_409_until_the_earlier_report_failed(
    client: httpx.AsyncClient, token: str, db: Database
) -> None:
    first = await create(client, token, type="USER")
    again = await client.post(BASE, json=body(type="USER"), headers=bearer(token))
    assert_error(again, 409, 1203)
    # The category is not part of the key (CONTRACT section 5: dates, type, sub-partner).
    other_category = await client.post(
        BASE, json=body(type="USER", category="POINT_IN_TIME"), headers=bearer(token)
    )
    assert_error(other_category, 409, 1203)
    await create(client, token, type="CUSTOMER")  # another type is another report
    async with db.transaction() as session:
        from sqlalchemy import text

        await session.execute(
            text("UPDATE billing_reports SET status = 'FAILED' WHERE id = :id"),
            {"id": ids.decode("BILLING_REPORT", first["id"])},
        )
    await create(client, token, type="USER")


async def test_scopes_and_authentication(client: httpx.AsyncClient, tenant: Tenant) -> None:
    reader = await tenant.token(READ)
    nothing = await tenant.token("spark-admin:wholesale_customers_read")
    writer = await tenant.token(WRITE)
    assert_error(await client.post(BASE, json=body(), headers=bearer(reader)), 403, 1300)
    assert_error(await client.get(BASE, headers=bearer(nothing)), 403, 1300)
    assert_error(await client.post(BASE, json=body()), 401, 1500)
    assert_error(await client.get(BASE), 401, 1500)
    created = await create(client, writer)
    assert (await client.get(BASE, headers=bearer(reader))).status_code == 200
    got = await client.get(f"{BASE}/{created['id']}", headers=bearer(reader))
    assert got.status_code == 200
    assert_error(await client.delete(f"{BASE}/{created['id']}", headers=bearer(reader)), 403, 1300)
    assert_error(await client.get(f"{BASE}/{created['id']}", headers=bearer(nothing)), 403, 1300)


async def test_sub_partner(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    sub = await make_tenant(db, "Reseller", parent=tenant.partner)
    stranger = await make_tenant(db, "Stranger")
    foreign_sub = await make_tenant(db, "Foreign reseller", parent=stranger.partner)
    token = await tenant.token(WRITE)
    sub_org = ids.encode("ORGANIZATION", sub.partner.id, ids.HUB)
    created = await create(client, token, subPartnerOrgId=sub_org)
    # The same dates and type for the partner as a whole are another report.
    await create(client, token)
    again = await client.post(BASE, json=body(subPartnerOrgId=sub_org), headers=bearer(token))
    assert_error(again, 409, 1203)
    for org in (
        ids.encode("ORGANIZATION", foreign_sub.partner.id, ids.HUB),
        ids.encode("ORGANIZATION", stranger.partner.id, ids.HUB),
        ids.encode("ORGANIZATION", uuid.uuid4(), ids.HUB),
        "not-an-id",
    ):
        response = await client.post(BASE, json=body(subPartnerOrgId=org), headers=bearer(token))
        assert_error(response, 404, 1100)
    got = (await client.get(f"{BASE}/{created['id']}", headers=bearer(token))).json()
    assert got["subPartnerOrgId"] == sub_org
    listed = await client.get(BASE, params={"subPartnerOrgId": sub_org}, headers=bearer(token))
    assert [r["id"] for r in listed.json()["items"]] == [created["id"]]
    # The sub-partner's own credential sees its own reports only (none).
    sub_token = await sub.token(READ)
    assert (await client.get(BASE, headers=bearer(sub_token))).json()["items"] == []
    assert_error(await client.get(f"{BASE}/{created['id']}", headers=bearer(sub_token)), 404, 1100)


async def test_list_filters_sort_and_paging(client: httpx.AsyncClient, token: str) -> None:
    made = []
    for days_back, kind in ((40, "PARTNER"), (20, "CUSTOMER"), (10, "USER"), (5, "PARTNER")):
        start = service.today() - timedelta(days=days_back)
        end = start + timedelta(days=2)
        made.append(
            await create(
                client,
                token,
                billingStartDate=start.isoformat(),
                billingEndDate=end.isoformat(),
                type=kind,
            )
        )
    listed = (await client.get(BASE, headers=bearer(token))).json()["items"]
    assert [r["id"] for r in listed] == [r["id"] for r in made]  # sortBy billingStartDate
    assert {k for r in listed for k in r} >= {
        "id",
        "billingStartDate",
        "billingEndDate",
        "status",
        "type",
        "category",
    }
    by_end = await client.get(BASE, params={"sortBy": "billingEndDate"}, headers=bearer(token))
    assert [r["id"] for r in by_end.json()["items"]] == [r["id"] for r in made]
    by_id = await client.get(BASE, params={"sortBy": "id"}, headers=bearer(token))
    assert len(by_id.json()["items"]) == 4
    by_status = await client.get(BASE, params={"sortBy": "status"}, headers=bearer(token))
    assert by_status.status_code == 200
    assert_error(
        await client.get(BASE, params={"sortBy": "name"}, headers=bearer(token)), 400, 1003
    )
    users = await client.get(BASE, params={"type": "USER"}, headers=bearer(token))
    assert [r["id"] for r in users.json()["items"]] == [made[2]["id"]]
    start = made[1]["billingStartDate"]
    for value in (start, f"{start}T00:00:00.000Z", f"{start}T10:11:12+02:00"):
        found = await client.get(BASE, params={"billingStartDate": value}, headers=bearer(token))
        assert [r["id"] for r in found.json()["items"]] == [made[1]["id"]], value
    end = made[3]["billingEndDate"]
    found = await client.get(BASE, params={"billingEndDate": end}, headers=bearer(token))
    assert [r["id"] for r in found.json()["items"]] == [made[3]["id"]]
    assert_error(
        await client.get(BASE, params={"billingEndDate": "soon"}, headers=bearer(token)), 400, 1003
    )
    assert_error(await client.get(BASE, params={"type": "ALL"}, headers=bearer(token)), 400, 1003)
    assert_error(
        await client.get(BASE, params={"status": "DONE"}, headers=bearer(token)), 400, 1003
    )
    progress = await client.get(BASE, params={"status": "IN_PROGRESS"}, headers=bearer(token))
    assert len(progress.json()["items"]) == 4
    done = await client.get(BASE, params={"status": "COMPLETED"}, headers=bearer(token))
    assert done.json()["items"] == []
    # Paging: Link rel="next" repeats the filters.
    page = await client.get(BASE, params={"max": "3", "type": "PARTNER"}, headers=bearer(token))
    assert "Link" not in page.headers and len(page.json()["items"]) == 2
    page = await client.get(BASE, params={"max": "3"}, headers=bearer(token))
    assert len(page.json()["items"]) == 3
    link = page.headers["Link"]
    assert (
        link.startswith("<https://testserver/v1/wholesale/billing/reports?")
        and 'rel="next"' in link
    )
    next_url = link[1 : link.index(">")]
    rest = await client.get(next_url, headers=bearer(token))
    assert [r["id"] for r in rest.json()["items"]] == [made[3]["id"]]
    assert_error(await client.get(BASE, params={"max": "101"}, headers=bearer(token)), 400, 1003)


async def test_completed_report_download_and_delete(
    client: httpx.AsyncClient, token: str, worker: None, settings: Any
) -> None:
    created = await create(client, token, type="USER")
    report = await wait_report(client, created["id"], token)
    assert report["status"] == "COMPLETED", report
    url = report["tempDownloadURL"]
    assert url.startswith(f"https://testserver{BASE}/{created['id']}/download?token=")
    downloaded = await client.get(url)  # no bearer token
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"].startswith("text/csv")
    assert "attachment" in downloaded.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(downloaded.text)))
    assert rows[0][0] == "report_version" and rows[1:] == []  # no usage: the header only
    path = settings.data_dir / "billing" / f"{ids.decode('BILLING_REPORT', created['id'])}.csv"
    assert path.exists()
    listed = await client.get(BASE, params={"status": "COMPLETED"}, headers=bearer(token))
    assert [r["id"] for r in listed.json()["items"]] == [created["id"]]
    deleted = await client.delete(f"{BASE}/{created['id']}", headers=bearer(token))
    assert deleted.status_code == 204 and deleted.content == b""
    assert not path.exists()
    assert_error(await client.get(f"{BASE}/{created['id']}", headers=bearer(token)), 404, 1100)
    assert_error(await client.delete(f"{BASE}/{created['id']}", headers=bearer(token)), 404, 1100)
    assert_error(await client.get(url), 404, 1100)  # a good link to a deleted report
    # After deletion the same report can be requested again.
    await create(client, token, type="USER")


async def test_failed_report_has_errors(
    client: httpx.AsyncClient, token: str, worker: None, settings: Any
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "billing").write_text("not a directory")  # the job cannot write
    created = await create(client, token)
    report = await wait_report(client, created["id"], token)
    assert report["status"] == "FAILED"
    assert "tempDownloadURL" not in report
    assert report["errors"] and report["errors"][0]["code"] == service.FAILED_CODE
    assert report["errors"][0]["description"]
    failed = await client.get(BASE, params={"status": "FAILED"}, headers=bearer(token))
    assert [r["id"] for r in failed.json()["items"]] == [created["id"]]
    await create(client, token)  # a failed report does not block a new one


async def test_another_partners_report_is_not_found(
    client: httpx.AsyncClient, token: str, other_tenant: Tenant
) -> None:
    created = await create(client, token)
    other = await other_tenant.token(WRITE)
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{BASE}/{created['id']}", headers=bearer(other))
        assert_error(response, 404, 1100)
        assert created["id"] not in response.text
    assert (await client.get(BASE, headers=bearer(other))).json()["items"] == []
    # Its own report for the same dates is no conflict.
    await create(client, other)
    for bad in ("nope", ids.encode("CUSTOMER", uuid.uuid4(), "us")):
        assert_error(await client.get(f"{BASE}/{bad}", headers=bearer(token)), 404, 1100)


async def test_signed_link_cases(
    client: httpx.AsyncClient, token: str, worker: None, db: Database
) -> None:
    a = await create(client, token, type="USER")
    b = await create(client, token, type="CUSTOMER")
    url_a = (await wait_report(client, a["id"], token))["tempDownloadURL"]
    await wait_report(client, b["id"], token)
    token_a = parse_qs(urlsplit(url_a).query)["token"][0]
    path_b = f"{BASE}/{b['id']}/download"
    # Another report's link.
    assert_error(await client.get(path_b, params={"token": token_a}), 403, 1300)
    # Altered, missing, empty.
    altered = token_a[:-2] + ("AA" if not token_a.endswith("AA") else "BB")
    assert_error(
        await client.get(f"{BASE}/{a['id']}/download", params={"token": altered}), 403, 1300
    )
    assert_error(await client.get(f"{BASE}/{a['id']}/download"), 403, 1300)
    assert_error(await client.get(f"{BASE}/{a['id']}/download", params={"token": ""}), 403, 1300)
    # Expired.
    report_a = ids.decode("BILLING_REPORT", a["id"])
    assert report_a is not None
    async with db.transaction() as session:
        expired = await sign_link_token(
            session,
            service.DOWNLOAD_PURPOSE,
            report_a,
            datetime.now(UTC) - timedelta(seconds=1),
            service.DOWNLOAD_KEY,
        )
        # Signed with another purpose's key: refused too.
        other_key = await sign_link_token(
            session, service.DOWNLOAD_PURPOSE, report_a, datetime.now(UTC) + timedelta(hours=1)
        )
    for bad in (expired, other_key):
        response = await client.get(f"{BASE}/{a['id']}/download", params={"token": bad})
        body_ = assert_error(response, 403, 1300)
        assert a["id"] not in str(body_)
    # A bad link on an id that does not exist answers exactly the same (nothing revealed).
    unknown = ids.encode("BILLING_REPORT", uuid.uuid4(), ids.HUB)
    response = await client.get(f"{BASE}/{unknown}/download", params={"token": altered})
    assert_error(response, 403, 1300)
    # The good link works, and a bearer token is not needed.
    assert (await client.get(url_a)).status_code == 200


async def test_list_sort_orders_offset_and_refused_parameters(
    client: httpx.AsyncClient, token: str, db: Database
) -> None:
    """Every ``sortBy`` orders as named (``id``: the ids' order; ``status``: alphabetical,
    COMPLETED < FAILED < IN_PROGRESS), ``offset`` skips, and each refused parameter is a 400
    naming it (errorCode 1003) — ``subPartnerOrgId`` that is no organization id, ``offset``
    and ``max`` out of range or not integers."""
    from sqlalchemy import text

    made = [
        await create(
            client,
            token,
            billingStartDate=(LAST - timedelta(days=n)).isoformat(),
            billingEndDate=(LAST - timedelta(days=n)).isoformat(),
        )
        for n in range(3)
    ]
    statuses = {made[0]["id"]: "FAILED", made[1]["id"]: "COMPLETED"}
    async with db.transaction() as session:
        for report_id, status in statuses.items():
            await session.execute(
                text("UPDATE billing_reports SET status = :s WHERE id = :id"),
                {"s": status, "id": ids.decode("BILLING_REPORT", report_id)},
            )

    async def order(**params: str) -> list[str]:
        response = await client.get(BASE, params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    by_id = sorted(made, key=lambda r: str(ids.decode("BILLING_REPORT", r["id"])))
    assert await order(sortBy="id") == [r["id"] for r in by_id]
    assert await order(sortBy="status") == [made[1]["id"], made[0]["id"], made[2]["id"]]
    assert await order() == [made[2]["id"], made[1]["id"], made[0]["id"]]  # start date
    assert await order(offset="1") == [made[1]["id"], made[0]["id"]]
    assert await order(offset="1", max="1") == [made[1]["id"]]
    assert await order(offset="3") == []
    assert await order(status="FAILED") == [made[0]["id"]]
    for name, value in (
        ("subPartnerOrgId", "not-an-id"),
        ("offset", "-1"),
        ("offset", "one"),
        ("max", "0"),
        ("max", ""),
    ):
        refused = await client.get(BASE, params={name: value}, headers=bearer(token))
        error = assert_error(refused, 400, 1003)
        assert name in str(error["message"])
    # A malformed report id is a 404 on every operation (and a bad link's 403 for the download).
    for method in ("GET", "DELETE"):
        assert_error(await client.request(method, f"{BASE}/nope", headers=bearer(token)), 404, 1100)
    assert_error(await client.get(f"{BASE}/nope/download", params={"token": "x"}), 403, 1300)
