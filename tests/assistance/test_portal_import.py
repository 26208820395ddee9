"""Bulk onboarding from the customer's set-up page (issue 4, item 6): the CSV upload form,
row-level errors with nothing imported, "Precheck only", the live progress page with its
result CSV, a safe re-run, CSRF and tenant isolation."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from partnerhub.db import Database
from tests.conftest import portal_login
from tests.customers.portal.helpers import scalar, unescape
from tests.factories import Setup, Tenant, make_tenant, number

HEADER = "first_name,last_name,email,package,location,phone_number,extension\n"
GOOD = (
    HEADER
    + "Ann,Meet,ann@customer.example,webex_meetings,,,\n"
    + f"Bob,Call,bob@customer.example,webex_calling,,{number(1)},1001\n"
    + "Cy,Meet,cy@customer.example,webex_meetings,,,\n"
)
# Row 3: unknown package; row 4: a number outside the inventory.
BAD = (
    HEADER
    + "Ann,Meet,ann@customer.example,webex_meetings,,,\n"
    + "Bob,Call,bob@customer.example,no_such_package,,,\n"
    + f"Cy,Call,cy@customer.example,webex_calling,,{number(99)},\n"
)


async def upload(
    client: httpx.AsyncClient, csrf: str, setup: Setup, text: str, precheck: bool = False
) -> httpx.Response:
    data = {"csrf_token": csrf}
    if precheck:
        data["precheck"] = "on"
    return await client.post(
        f"/customers/{setup.id}/setup/import",
        data=data,
        files={"file": ("users.csv", text.encode(), "text/csv")},
    )


async def count_users(db: Database, setup: Setup) -> int:
    sql = "SELECT count(*) FROM org_users WHERE customer_id = :c"
    return int(await scalar(db, sql, c=setup.customer.id))


def error_rows(html: str) -> list[tuple[str, str, str]]:
    found = re.findall(
        r'<td class="row">(\d+)</td><td class="column">([^<]*)</td>'
        r'<td class="message">([^<]*)</td>',
        html,
    )
    return [(r, c, unescape(m)) for r, c, m in found]


async def test_the_set_up_page_offers_the_upload_form(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    page = await client.get(f"/customers/{setup.id}/setup")
    assert f'action="/customers/{setup.id}/setup/import" enctype="multipart/form-data"' in page.text
    assert 'name="precheck"' in page.text


async def test_bad_rows_are_shown_and_nothing_is_imported(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    before = await count_users(db, setup)
    response = await upload(client, csrf, setup, BAD)
    assert response.status_code == 400
    assert 'id="import-refused"' in response.text
    rows = error_rows(response.text)
    assert [(r, c) for r, c, _ in rows] == [("3", "package"), ("4", "phone_number")]
    assert "no_such_package" in rows[0][2]
    assert await count_users(db, setup) == before
    imports = "SELECT count(*) FROM subscriber_imports WHERE customer_id = :c"
    assert await scalar(db, imports, c=setup.customer.id) == 0


async def test_precheck_only_reports_the_counts_and_imports_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    before = await count_users(db, setup)
    response = await upload(client, csrf, setup, GOOD, precheck=True)
    assert response.status_code == 200
    assert 'id="import-prechecked"' in response.text
    assert "3 new users, 0 already there" in response.text
    assert await count_users(db, setup) == before


async def _run_to_the_end(client: httpx.AsyncClient, page_url: str) -> str:
    page = await client.get(page_url)
    assert page.status_code == 200
    match = re.search(r'data-poll="([^"]+)"', page.text)
    if match:
        assert match.group(1) == f"{page_url}/progress"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fragment = await client.get(match.group(1))
            assert fragment.status_code == 200
            assert 'id="import-bar"' in fragment.text
            if "data-settled" in fragment.text:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the import did not finish")
    final = await client.get(page_url)
    assert "data-poll" not in final.text
    return final.text


async def test_good_file_imports_with_progress_and_result_then_rerun_is_safe(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup, worker: None
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    before = await count_users(db, setup)
    response = await upload(client, csrf, setup, GOOD)
    assert response.status_code == 303
    page_url = response.headers["location"]
    assert page_url.startswith(f"/customers/{setup.id}/setup/imports/")

    html = await _run_to_the_end(client, page_url)
    assert 'data-status="succeeded"' in html
    assert "Done: 3 users created, 0 already there" in html
    assert f'href="{page_url}/result"' in html
    assert await count_users(db, setup) == before + 3
    owner = "SELECT phone_number FROM org_users WHERE email = 'bob@customer.example'"
    assert await scalar(db, owner) == number(1)

    result = await client.get(f"{page_url}/result")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    lines = result.text.strip().splitlines()
    assert lines[0] == "row,email,result,subscriber_id,phone_number,extension"
    assert [line.split(",")[2] for line in lines[1:]] == ["created"] * 3

    # the same file again: every row reported as already there, nothing duplicated
    again = await upload(client, csrf, setup, GOOD)
    assert again.status_code == 303
    html = await _run_to_the_end(client, again.headers["location"])
    assert "Done: 0 users created, 3 already there" in html
    assert await count_users(db, setup) == before + 3
    rerun = await client.get(f"{again.headers['location']}/result")
    assert [line.split(",")[2] for line in rerun.text.strip().splitlines()[1:]] == ["existing"] * 3


async def test_upload_without_csrf_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    await portal_login(client, tenant.admin.email, tenant.password)
    before = await count_users(db, setup)
    response = await upload(client, "forged", setup, GOOD)
    assert response.status_code == 403
    assert await count_users(db, setup) == before


async def test_upload_without_a_file_is_a_clear_error(
    client: httpx.AsyncClient, tenant: Tenant, setup: Setup
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    response = await client.post(
        f"/customers/{setup.id}/setup/import",
        data={"csrf_token": csrf},
        files={"file": ("", b"", "text/csv")},
    )
    assert response.status_code == 400
    assert "Choose a CSV file to upload" in response.text


async def test_another_partner_gets_404(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup, worker: None
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    started = await upload(client, csrf, setup, GOOD)
    page_url = started.headers["location"]
    await _run_to_the_end(client, page_url)

    other = await make_tenant(db, "Other")
    async with httpx.AsyncClient(
        transport=client._transport, base_url="https://testserver"
    ) as stranger:
        other_csrf = await portal_login(stranger, other.admin.email, other.password)
        assert (await upload(stranger, other_csrf, setup, GOOD)).status_code == 404
        for url in (page_url, f"{page_url}/progress", f"{page_url}/result"):
            assert (await stranger.get(url)).status_code == 404
