"""Issue 10, item 9: strict input, over HTTP on the trust server (two partners, a sub-partner).

* A boolean field of a JSON body takes ``true`` or ``false`` only: ``{"active": 0.0}`` must not
  deactivate an administrator, and no other non-boolean value is read as one.
* An integer (or boolean) query parameter given empty (``?max=``) is a 400 in the contract's
  error shape, not "absent".

Every boolean body field and every integer/boolean query parameter is enumerated from the
server's own ``/openapi.json``, so a new one is covered without editing this file; a
parameter named like an integer (``offset``, ``max``) must be documented as one.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from partnerhub import ids
from partnerhub.catalog.roles import ALL_SCOPES
from tests.conftest import assert_error, bearer
from tests.factories import Tenant
from tests.reliability.trust.conftest import World

NOT_BOOLEANS: list[Any] = [0, 1, 0.0, 1.0, "true", "false", "on", "", [], {}]
INTEGER_NAMES = {"offset", "max"}


async def _openapi(world: World) -> dict[str, Any]:
    async with world.client() as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _deref(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _boolean_paths(
    schema: dict[str, Any], components: dict[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    schema = _deref(schema, components)
    found: list[tuple[str, ...]] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += _boolean_paths(sub, components, prefix)
    if schema.get("type") == "boolean" and prefix:
        found.append(prefix)
    for name, sub in (schema.get("properties") or {}).items():
        found += _boolean_paths(sub, components, (*prefix, name))
    return found


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
        kinds |= _types(sub)
    return kinds


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body: Any = value
    for name in reversed(path):
        body = {name: body}
    return dict(body)


def _fill(path: str, ids_by_name: dict[str, str]) -> str:
    for name, value in ids_by_name.items():
        path = path.replace("{" + name + "}", value)
    return path


async def _full_token(tenant: Tenant) -> str:
    return await tenant.token(*ALL_SCOPES)


async def _admin(client: httpx.AsyncClient, token: str, admin_ref: str) -> dict[str, Any]:
    response = await client.get("/v1/partner/administrators", headers=bearer(token))
    assert response.status_code == 200, response.text
    return next(a for a in response.json()["items"] if a["id"] == admin_ref)


# --- booleans -------------------------------------------------------------------------------


async def test_active_zero_does_not_deactivate_an_administrator(world: World) -> None:
    """The flaw as found: ``PUT .../administrators/{id} {"active": 0.0}`` deactivated him."""
    victim, _ = await world.a.add_admin("full_admin")
    victim_ref = ids.encode("PEOPLE", victim.id, ids.HUB)
    token = await world.a.token("partnerhub:admin")
    url = f"/v1/partner/administrators/{victim_ref}"
    async with world.client() as client:
        for value in (0.0, 0, "false", "0", "no", "off", ""):
            response = await client.put(url, json={"active": value}, headers=bearer(token))
            err = assert_error(response, 400, 1003)
            assert str(err["message"]).startswith("active:"), err
            assert (await _admin(client, token, victim_ref))["active"] is True, value
        # The real booleans still work, both ways.
        response = await client.put(url, json={"active": False}, headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.json()["active"] is False
        response = await client.put(url, json={"active": True}, headers=bearer(token))
        assert response.json()["active"] is True
        # And a string "true" does not reactivate one either.
        await client.put(url, json={"active": False}, headers=bearer(token))
        response = await client.put(url, json={"active": "true"}, headers=bearer(token))
        assert_error(response, 400, 1003)
        assert (await _admin(client, token, victim_ref))["active"] is False


async def test_every_boolean_body_field_takes_true_or_false_only(world: World) -> None:
    spec = await _openapi(world)
    components = spec["components"]["schemas"]
    fields: list[tuple[str, str, tuple[str, ...]]] = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content") or {}
            schema = (content.get("application/json") or {}).get("schema")
            if schema:
                fields += [(method, path, f) for f in _boolean_paths(schema, components)]
    named = {(path, ".".join(f)) for _, path, f in fields}
    # The enumeration sees the known ones (it is not silently empty).
    assert ("/v1/partner/administrators/{admin_id}", "active") in named, named
    assert ("/v1/partner/templates", "email.allowAdminInviteOnLink") in named
    assert ("/v1/partner/templates", "requireApproval") in named
    assert ("/v1/partner/settings", "offers.hostedCalling") in named
    assert ("/v1/partner/identityProviders", "forAdministrators") in named
    assert ("/v1/partner/customers/{customer_id}/imports", "dryRun") in named

    victim, _ = await world.a.add_admin("full_admin")
    refs = {
        "admin_id": ids.encode("PEOPLE", victim.id, ids.HUB),
        "template_id": ids.encode("TEMPLATE", uuid.uuid4(), ids.HUB),
        "provider_id": ids.encode("SAMLIDP", uuid.uuid4(), ids.HUB),
        "customer_id": ids.encode("CUSTOMER", uuid.uuid4(), ids.HUB),
        "org_id": ids.encode("ORGANIZATION", world.sub.partner.id, ids.HUB),
    }
    token = await _full_token(world.a)
    async with world.client() as client:
        before = await client.get("/v1/partner/settings", headers=bearer(token))
        for method, path, field in fields:
            url = _fill(path, refs)
            assert "{" not in url, f"no id for {path}"
            name = ".".join(field)
            for value in NOT_BOOLEANS:
                response = await client.request(
                    method, url, json=_nested(field, value), headers=bearer(token)
                )
                assert response.status_code == 400, (method, path, name, value, response.text)
                assert_error(response, 400, response.json()["errors"][0]["errorCode"])
                described = [e["description"] for e in response.json()["errors"]]
                assert any(d.startswith(f"{name}:") for d in described), (path, value, described)
        # Nothing was written by any of them.
        assert (await _admin(client, token, refs["admin_id"]))["active"] is True
        after = await client.get("/v1/partner/settings", headers=bearer(token))
        assert after.json() == before.json()
        templates = await client.get("/v1/partner/templates", headers=bearer(token))
        assert templates.json()["items"] == []
        providers = await client.get("/v1/partner/identityProviders", headers=bearer(token))
        assert providers.json()["items"] == []


# --- integer (and boolean) query parameters ---------------------------------------------------


def _query_parameters(spec: dict[str, Any]) -> list[tuple[str, str, str, set[str]]]:
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    kinds = _types(parameter.get("schema") or {})
                    found.append((method, path, parameter["name"], kinds))
    return found


async def test_integer_query_parameters_are_documented_as_integers(world: World) -> None:
    spec = await _openapi(world)
    wrong = [
        (method, path, name, kinds)
        for method, path, name, kinds in _query_parameters(spec)
        if name in INTEGER_NAMES and kinds - {"null"} != {"integer"}
    ]
    assert wrong == []


@pytest.mark.parametrize("value", ["", " ", "abc", "1.5"])
async def test_an_empty_or_wrong_integer_or_boolean_query_parameter_is_a_400(
    world: World, value: str
) -> None:
    spec = await _openapi(world)
    targets = [
        (method, path, name, kinds)
        for method, path, name, kinds in _query_parameters(spec)
        if kinds & {"integer", "boolean"}
    ]
    names = {(path, name) for _, path, name, _ in targets}
    assert ("/v1/wholesale/customers", "max") in names, names
    assert ("/v1/wholesale/subscribers", "offset") in names
    assert ("/v1/telephony/config/numbers", "available") in names
    assert ("/v1/partner/customers/{customer_id}/imports", "dryRun") in names  # a POST
    refs = {
        "customer_id": ids.encode("CUSTOMER", uuid.uuid4(), ids.HUB),
        "import_id": ids.encode("IMPORT", uuid.uuid4(), ids.HUB),
        "org_id": ids.encode("ORGANIZATION", world.sub.partner.id, ids.HUB),
        "webhook_id": ids.encode("WEBHOOK", uuid.uuid4(), ids.HUB),
    }
    token = await _full_token(world.a)
    async with world.client() as client:
        for method, path, name, _ in targets:
            url = _fill(path, refs)
            assert "{" not in url, f"no id for {path}"
            body = None if method == "get" else {}
            response = await client.request(
                method, url, params={name: value}, json=body, headers=bearer(token)
            )
            err = assert_error(response, 400, 1003)
            assert str(err["message"]).startswith(f"{name}:"), (path, name, err)


async def test_the_customers_list_refuses_an_empty_max(world: World) -> None:
    """``GET /v1/wholesale/customers``: ``?max=`` and ``?offset=`` are 400, for the partner
    and acting for its sub-partner."""
    token = await _full_token(world.a)
    sub = {"onBehalfOfSubPartnerOrgId": ids.encode("ORGANIZATION", world.sub.partner.id, ids.HUB)}
    async with world.client() as client:
        for params in (
            {"max": ""},
            {"offset": ""},
            {"max": "", "offset": "0"},
            {**sub, "max": ""},
        ):
            response = await client.get(
                "/v1/wholesale/customers", params=params, headers=bearer(token)
            )
            err = assert_error(response, 400, 1003)
            assert "max:" in str(err["message"]) or "offset:" in str(err["message"]), err
        ok = await client.get("/v1/wholesale/customers", params={"max": "5"}, headers=bearer(token))
        assert ok.status_code == 200, ok.text
        ok = await client.get("/v1/wholesale/customers", headers=bearer(token))
        assert ok.status_code == 200, ok.text
