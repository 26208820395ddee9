"""Regression tests for the defects the fuzzing and the bad-input corpus found (issue 6).

Each test names the defect; before its fix each of these requests was answered 500 (or, for
the OpenAPI document, described responses the API never gives)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import text

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from tests.conftest import assert_error, bearer, portal_login
from tests.factories import Tenant, make_customer


async def _count(db: Database, table: str) -> int:
    async with db.transaction() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def _location(org: str, name: str) -> dict[str, object]:
    return {
        "orgId": org,
        "name": name,
        "timeZone": "America/Los_Angeles",
        "preferredLanguage": "en_US",
        "address": {
            "address1": "1 Main St",
            "city": "San Francisco",
            "state": "CA",
            "postalCode": "94105",
            "country": "US",
        },
    }


async def test_nul_character_in_a_body_is_400_not_500(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Defect: PostgreSQL refuses NUL in text; psycopg's DataError became a 500."""
    setup = await make_customer(db, tenant)
    token = await tenant.token(*ALL_SCOPES)
    before = await _count(db, "locations")
    response = await client.post(
        "/v1/locations", json=_location(setup.org, "a\x00b"), headers=bearer(token)
    )
    assert_error(response, 400, 1003)
    assert "NUL" in response.json()["message"]
    assert await _count(db, "locations") == before


async def test_nul_character_in_a_query_filter_is_400_not_500(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await tenant.token(*ALL_SCOPES)
    for url in (
        "/v1/wholesale/customers?externalId=%00",
        "/v1/wholesale/subscribers?email=a%00b",
        "/v1/telephony/config/numbers?ownerName=%00",
    ):
        assert_error(await client.get(url, headers=bearer(token)), 400, 1003)


async def test_portal_search_and_paging_out_of_range_are_400_pages_not_500(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Defect: a NUL in a search or an offset beyond bigint reached SQL: 500."""
    setup = await make_customer(db, tenant)
    await portal_login(client, tenant.admin.email, tenant.password)
    for url in (
        "/customers?q=%00",
        "/customers?offset=99999999999999999999",
        f"/org/{setup.id}/users?q=%00",
        f"/org/{setup.id}/users?offset=99999999999999999999",
    ):
        response = await client.get(url)
        assert response.status_code == 400, (url, response.status_code)
        assert response.headers["content-type"].startswith("text/html")


async def test_unpaired_surrogate_in_an_error_description_is_400_not_500(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Defect: the 400 quoting the invalid input could not be encoded as UTF-8: 500."""
    setup = await make_customer(db, tenant)
    token = await tenant.token(*ALL_SCOPES)
    body = json.dumps(_location(setup.org, "\ud800")).encode()  # "\\ud800" on the wire
    response = await client.post(
        "/v1/locations",
        content=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, 1003)
    assert "\\ud800" in str(error["message"])


async def test_error_descriptions_quote_neither_megabytes_nor_passwords(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    setup = await make_customer(db, tenant)
    token = await tenant.token(*ALL_SCOPES)
    long = await client.post(
        "/v1/locations", json=_location(setup.org, "x" * 500_000), headers=bearer(token)
    )
    assert_error(long, 400, 1003)
    assert len(long.content) < 2000
    secret = "\ud800-my-secret-password"
    response = await client.post(
        "/v1/partner/administrators",
        content=json.dumps({"email": "a@b.example", "role": "read_only", "password": secret}),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_error(response, 400, 1003)
    assert "my-secret-password" not in response.text


async def test_administrator_password_with_a_control_character_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Defect: a password holding NUL (untypable at sign-in) was accepted."""
    token = await tenant.token(*ALL_SCOPES)
    before = await _count(db, "partner_admins")
    for password in ("nul\x00in-the-password", "new\nline-password"):
        response = await client.post(
            "/v1/partner/administrators",
            json={"email": "ctl@corpus.example", "role": "read_only", "password": password},
            headers=bearer(token),
        )
        assert_error(response, 400, 1003)
    assert await _count(db, "partner_admins") == before


async def test_openapi_documents_the_error_responses_it_gives(client: httpx.AsyncClient) -> None:
    """Defect: /openapi.json documented a 422 HTTPValidationError the API never sends, and
    none of the 400/401/403/404/409/413/415/429 error responses it does send."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["Error"]["required"] == ["message", "errors", "trackingId"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "413", "415", "429"):
                content = responses[status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            assert operation["security"] == [{"bearer": []}], (method, path)


async def test_the_import_dry_run_answer_is_documented(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """Defect found by bench/fuzz.py: a dryRun import answers 200, /openapi.json only 202."""
    setup = await make_customer(db, tenant)
    token = await tenant.token(*ALL_SCOPES)
    users = await _count(db, "org_users")
    response = await client.post(
        f"/v1/partner/customers/{setup.id}/imports",
        json={"csv": "email,package\ndry@corpus.example,webex_meetings\n", "dryRun": True},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/partner/customers/{customer_id}/imports"]["post"]
    documented = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert documented == {"$ref": "#/components/schemas/ImportOut"}
    assert response.json()["status"] == "checked"
    assert await _count(db, "org_users") == users  # a dry run imports nothing
