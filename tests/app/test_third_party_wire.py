"""The API as third-party clients send it (issue 11, "Wire fixes found by third-party clients"),
against a real ``partnerhub serve``:

* wxcadm 4.6.0 builds every URL as ``"https://webexapis.com/" + "/v1/..."`` — a doubled slash —
  and its ``add_subscriber`` always sends a ``locationId`` (and nulls for the calling fields):
  a meetings-only subscriber is added, the location ignored;
* raw paths through ``requests``: ``//v1/...`` is answered as ``/v1/...``, nothing under ``/v1``
  answers HTML, and every 405 names in ``Allow`` exactly the methods the path has.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import requests

from partnerhub.db import Database
from tests.conftest import LiveServer
from tests.factories import ALL_WRITE, SUB_READ, Setup, Tenant, make_customer

CUSTOMERS_READ = "spark-admin:wholesale_customers_read"


@pytest.fixture
async def customer(live_db: Database, acme: Tenant) -> Setup:
    return await make_customer(live_db, acme, data_region="EU")


async def test_wxcadm_adds_a_meetings_subscriber_with_its_location(
    live_server: LiveServer, acme: Tenant, customer: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wxcadm
    import wxcadm.common

    token = await acme.token(CUSTOMERS_READ, SUB_READ, *ALL_WRITE)
    # wxcadm's own base URL, ending in a slash: every request path starts with "//v1/".
    monkeypatch.setattr(wxcadm.common, "_url_base", live_server.url + "/")

    def drive() -> tuple[list[object], dict[str, object]]:
        wholesale = wxcadm.Wholesale(token)
        customers = wholesale.customers
        found = wholesale.get_customer(id=customer.id)
        assert found is not None
        added = found.add_subscriber(
            email="grace@customer.example",
            package="webex_meetings",
            first_name="Grace",
            last_name="Hopper",
            phone_number=None,
            extension=None,
            location=SimpleNamespace(id=customer.hq_id),
        )
        return customers, added

    customers, added = await asyncio.to_thread(drive)
    assert [c.id for c in customers] == [customer.id]  # type: ignore[attr-defined]
    assert added["email"] == "grace@customer.example"
    assert added["customerId"] == customer.id
    assert added["packages"] == ["webex_meetings"]
    assert "locationId" not in added  # accepted and ignored: meetings take no location


async def test_raw_paths_and_allow_headers(
    live_server: LiveServer, acme: Tenant, customer: Setup
) -> None:
    token = await acme.token(CUSTOMERS_READ, SUB_READ)
    auth = {"Authorization": f"Bearer {token}"}
    base = live_server.url

    def get(path: str, method: str = "GET") -> requests.Response:
        return requests.request(method, base + path, headers=auth, timeout=10)

    normal, doubled = await asyncio.gather(
        asyncio.to_thread(get, "/v1/wholesale/customers"),
        asyncio.to_thread(get, "//v1//wholesale/customers"),
    )
    assert normal.status_code == doubled.status_code == 200, doubled.text
    assert doubled.json()["items"] == normal.json()["items"]
    one = await asyncio.to_thread(get, f"//v1/wholesale/customers/{customer.id}")
    assert one.status_code == 200 and one.json()["id"] == customer.id

    for path in ("//v1/nothing/here", "/v1/wholesale/nothing", "/v1/", "//v1"):
        answer = await asyncio.to_thread(get, path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("application/json"), path
        assert answer.json()["errors"][0]["errorCode"] == 1100

    cases = {
        ("PATCH", "/v1/wholesale/customers"): "GET, POST",
        ("PATCH", f"/v1/wholesale/customers/{customer.id}"): "DELETE, GET, PUT",
        ("DELETE", "/v1/wholesale/subscribers"): "GET, POST",
        ("PATCH", "//v1/wholesale/customers"): "GET, POST",
    }
    for (method, path), allow in cases.items():
        answer = await asyncio.to_thread(get, path, method)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.headers["allow"] == allow, (method, path)
        assert answer.json()["errors"][0]["errorCode"] == 1402


async def test_every_405_names_the_methods_of_its_path(
    live_server: LiveServer, acme: Tenant
) -> None:
    """For every path of the hub's own OpenAPI document, a method it lacks answers 405 with
    ``Allow`` = exactly the document's methods."""
    spec = await asyncio.to_thread(
        lambda: requests.get(live_server.url + "/openapi.json", timeout=10).json()
    )
    checked = 0
    for template, item in spec["paths"].items():
        documented = {m.upper() for m in item if m in {"get", "post", "put", "patch", "delete"}}
        missing = [m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in documented]
        path = template
        for name in item.get("parameters", []) or []:
            path = path.replace("{" + name["name"] + "}", "x")
        path = path.replace("{", "").replace("}", "")
        expected = documented
        for method in missing[:1]:
            answer = await asyncio.to_thread(
                requests.request, method, live_server.url + path, timeout=10
            )
            assert answer.status_code == 405, (method, template, answer.status_code)
            assert set(answer.headers["allow"].split(", ")) == expected, (method, template)
            checked += 1
    assert checked > 20


async def test_an_idle_kept_alive_connection_outlives_a_client_pool_s_expiry(
    live_server: LiveServer,
) -> None:
    """``serve`` keeps an idle connection 75 s (docs/deployment.md, "Kept-alive connections"):
    a client that reuses one after 6 s idle — past uvicorn's default of 5 s, about httpx's own
    pool expiry — is answered on the same connection, not disconnected."""
    host, port = live_server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    try:
        for pause in (0.0, 6.0):
            await asyncio.sleep(pause)
            writer.write(request)
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 200"), (pause, status)
            headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(
                int(line.split(b":")[1])
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
    finally:
        writer.close()
