"""Every API error path answers in the contract's error shape with a TrackingID."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import assert_error, bearer
from tests.factories import Tenant

TEMPLATES = "/v1/partner/templates"


async def test_401_without_token(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get(TEMPLATES), 401, 1500)
    assert "Bearer" in str(body["message"])


async def test_401_with_unknown_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(TEMPLATES, headers=bearer("ph_not-a-token")), 401, 1500)


async def test_401_with_wrong_scheme(client: httpx.AsyncClient) -> None:
    response = await client.get(TEMPLATES, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(response, 401, 1500)


async def test_401_with_expired_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from partnerhub.identity.service import hash_secret
    from partnerhub.models import ApiToken
    from partnerhub.models.base import utcnow

    token = await tenant.token("partnerhub:templates_read")
    assert (await client.get(TEMPLATES, headers=bearer(token))).status_code == 200
    async with tenant.db.transaction() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_secret(token))
            .values(expires=utcnow() - timedelta(seconds=1))
        )
    assert_error(await client.get(TEMPLATES, headers=bearer(token)), 401, 1500)


async def test_403_missing_scope(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await tenant.token("spark-admin:wholesale_customers_read")
    body = assert_error(await client.get(TEMPLATES, headers=bearer(token)), 403, 1300)
    assert "partnerhub:templates_read" in str(body["message"])


async def test_404_unknown_route(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/no/such/thing"), 404, 1100)


async def test_404_unknown_and_malformed_ids(client: httpx.AsyncClient, tenant: Tenant) -> None:
    from uuid import uuid4

    from partnerhub import ids

    token = bearer(await tenant.token("partnerhub:templates_read"))
    for bad in [
        ids.encode("TEMPLATE", uuid4(), "us"),
        "not-an-id",
        ids.encode("CUSTOMER", uuid4(), "us"),
    ]:
        assert_error(await client.get(f"{TEMPLATES}/{bad}", headers=token), 404, 1100)


async def test_405_wrong_method(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.patch(
        TEMPLATES, headers=bearer(await tenant.token("partnerhub:templates_read"))
    )
    body = assert_error(response, 405, 1402)
    assert "PATCH" in str(body["message"])


async def test_413_body_over_one_mebibyte(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_write"))
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        TEMPLATES, content=big, headers={**token, "Content-Type": "application/json"}
    )
    assert_error(response, 413, 1400)


async def test_413_chunked_body_without_length(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_write"))

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        TEMPLATES, content=chunks(), headers={**token, "Content-Type": "application/json"}
    )
    assert_error(response, 413, 1400)


async def test_415_not_json(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_write"))
    response = await client.post(
        TEMPLATES, content=b"name=x", headers={**token, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, 1401)


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_write"))
    response = await client.post(
        TEMPLATES,
        content=b"{}",
        headers={**token, "Content-Type": "application/json; charset=utf-8"},
    )
    assert_error(response, 400, 1002)  # reached validation: the content type was accepted


async def test_get_with_content_type_is_fine(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_read"))
    response = await client.get(TEMPLATES, headers={**token, "Content-Type": "text/plain"})
    assert response.status_code == 200


async def test_400_invalid_json(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_write"))
    for raw in [b"{not json", b"[1, 2]", b'"a string"', b"null"]:
        response = await client.post(
            TEMPLATES, content=raw, headers={**token, "Content-Type": "application/json"}
        )
        assert_error(response, 400, 1001)


async def test_400_wrong_types(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_write"))
    response = await client.post(TEMPLATES, json={"name": ["a"], "email": "x"}, headers=token)
    assert response.status_code == 400
    assert_error(response, 400, 1002)  # the missing fields come first, then the wrong types
    codes = {e["errorCode"] for e in response.json()["errors"]}
    assert codes == {1002, 1003}


async def test_400_bad_pagination(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = bearer(await tenant.token("partnerhub:templates_read"))
    for query in ["max=0", "max=1001", "max=abc", "offset=-1"]:
        assert_error(await client.get(f"{TEMPLATES}?{query}", headers=token), 400, 1003)


async def test_500_hides_internals(app: FastAPI, tenant: Tenant) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    app.add_api_route("/v1/test-boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        response = await c.get("/v1/test-boom", headers={"TrackingID": "abc-123"})
    body = assert_error(response, 500, 1999)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["trackingId"] == "abc-123"


async def test_tracking_id_echoed_and_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"TrackingID": "partner-trace-1"})
    assert echoed.headers["TrackingID"] == "partner-trace-1"
    generated = await client.get("/healthz")
    assert generated.headers["TrackingID"].startswith("PH_")
    other = await client.get("/healthz")
    assert other.headers["TrackingID"] != generated.headers["TrackingID"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_openapi_and_docs_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/partner/templates" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_portal_errors_are_html_pages(app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError("internal detail")

    app.add_api_route("/portal-boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        broken = await c.get("/portal-boom")
        missing = await c.get("/no-such-page")
    assert broken.status_code == 500 and broken.headers["content-type"].startswith("text/html")
    assert "internal detail" not in broken.text and "tracking id" in broken.text
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
