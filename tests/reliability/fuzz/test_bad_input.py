"""The bad-input corpus (issue 6, item 2), table-driven over the main create endpoints
(``corpus.TARGETS``): malformed JSON, wrong types, bodies over 1 MiB, deep nesting, unicode
edge cases, SQL and HTML injection in every text field, invalid E.164 numbers, invalid ISO
codes, out-of-range pagination.

Every refusal is a 4xx in the contract's error shape with nothing stored (row counts of every
domain table, and of the job queue, unchanged). A value that is legitimately acceptable (an
injection string or RTL text as a name) is stored verbatim, read back verbatim through the
API, and shown escaped in the portal page that displays it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import text

from partnerhub.catalog.roles import ALL_SCOPES
from partnerhub.db import Database
from tests.conftest import bearer, portal_login
from tests.factories import Tenant, create_template, make_customer
from tests.reliability.fuzz import corpus
from tests.reliability.fuzz.corpus import TARGETS, Target, World

# Every table a create endpoint may write, and the job queue (a refused request defers nothing).
TABLES = (
    "templates",
    "customers",
    "customer_events",
    "locations",
    "phone_numbers",
    "org_users",
    "installation_requests",
    "partner_admins",
    "subscriber_imports",
    "outbox_emails",
    "idempotency_keys",
    "saml_identity_providers",
    "oidc_providers",
    "sso_domains",
    "billing_reports",
    "usage_ledger",
    "procrastinate_jobs",
)
COUNTS = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)
MIB = 1024 * 1024


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> World:
    setup = await make_customer(db, tenant)
    template = await create_template(client, tenant, country="US", defaultEmailLanguage="en_US")
    return World(setup, template["provisioningId"], tenant.admin.email)


@pytest.fixture
async def api(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, world: World
) -> AsyncIterator[Api]:
    api = Api(client, await tenant.token(*ALL_SCOPES), db, world)
    yield api
    print(f"\n{api.tried} requests")  # shown with -s: the figure docs/reliability.md records


class Api:
    """Requests with an every-scope token, and the checks every refusal must pass."""

    def __init__(self, client: httpx.AsyncClient, token: str, db: Database, world: World) -> None:
        self.client, self.token, self.db, self.world = client, token, db, world
        self.tried = 0
        self.last_counts: dict[str, int] | None = None  # after the last refusal

    async def counts(self) -> dict[str, int]:
        async with self.db.transaction() as session:
            return dict((await session.execute(text(COUNTS))).mappings().one())

    async def send(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, **kw: Any
    ) -> httpx.Response:
        self.last_counts = None
        headers = {**bearer(self.token), **kw.pop("headers", {})}
        if raw is not None or body is not None:
            headers.setdefault("Content-Type", "application/json")
            kw["content"] = raw if raw is not None else json.dumps(body).encode()
        self.tried += 1
        return await self.client.request(method, path, headers=headers, **kw)

    async def refused(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int | set[int] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """Send; expect a 4xx (``status`` if given) in the contract's shape, nothing stored."""
        before = self.last_counts or await self.counts()
        response = await self.send(method, path, body, **kw)
        what = f"{method} {path} {str(body)[:300]!r}"
        assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
        if status is not None:
            allowed = {status} if isinstance(status, int) else status
            assert response.status_code in allowed, (what, response.text)
        error = contract_error(response)
        after = await self.counts()
        assert after == before, (what, "something was stored")
        self.last_counts = after
        return error

    async def stored(self, table: str, value: str) -> bool:
        """Whether some row of ``table`` holds ``value`` exactly (in a column or JSON)."""
        async with self.db.transaction() as session:
            rows = await session.execute(text(f"SELECT row_to_json(t)::text FROM {table} t"))
            return any(contains(json.loads(row), value) for (row,) in rows)

    async def post_valid(self, target: Target, body: dict[str, Any]) -> httpx.Response:
        return await self.send("POST", target.path(self.world), body)


def contract_error(response: httpx.Response) -> dict[str, Any]:
    """The contract's error body (CONTRACT.md section 1), or an assertion error."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "errors", "trackingId"}, body
    assert body["errors"], body
    for item in body["errors"]:
        assert set(item) == {"description", "errorCode"}, body
        assert isinstance(item["description"], str) and isinstance(item["errorCode"], int), body
    assert body["message"] == body["errors"][0]["description"], body
    assert body["trackingId"] == response.headers["TrackingID"], body
    return body


def with_value(target: Target, world: World, dotted: str, value: Any) -> dict[str, Any]:
    body = target.body(world, world.n())
    corpus.set_path(body, dotted, value)
    return body


def contains(data: Any, value: str) -> bool:
    if isinstance(data, str):
        return data == value
    if isinstance(data, dict):
        return any(contains(v, value) for v in data.values())
    if isinstance(data, list):
        return any(contains(v, value) for v in data)
    return False


# --- malformed, nested, huge ---------------------------------------------------------------

MALFORMED = (
    b'{"name": ',  # truncated
    b"{'name': 'single quotes'}",
    b'{"name": "a",}',  # trailing comma
    b'{"a": 1} {"b": 2}',  # two documents
    b"\xff\xfe{\x00}",  # not UTF-8
    b"null",
    b"[]",
    b'"a string"',
    b"42",
    b"true",
)


async def test_malformed_json_is_refused(api: Api) -> None:
    for target in TARGETS:
        for raw in MALFORMED:
            error = await api.refused("POST", target.path(api.world), raw=raw, status=400)
            assert error["errors"][0]["errorCode"] == 1001, (target.name, raw, error)
        # an empty body: the body is required
        error = await api.refused("POST", target.path(api.world), raw=b"", status=400)
        assert error["errors"][0]["errorCode"] in (1001, 1002), (target.name, error)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


async def test_deep_nesting_is_refused(api: Api) -> None:
    for target in TARGETS:
        path = target.path(api.world)
        for depth in (1_000, 100_000):  # 100,000 levels stay under 1 MiB
            for kind in ("array", "object"):
                await api.refused("POST", path, raw=_nested(depth, kind), status=400)
                # ...and nested inside a field of an otherwise valid body
                valid = json.dumps(target.body(api.world, api.world.n())).encode()
                field = (target.free or target.coded)[0].split(".")[0]
                raw = valid[:-1] + b', "' + field.encode() + b'": ' + _nested(depth, kind) + b"}"
                await api.refused("POST", path, raw=raw, status=400)


async def test_bodies_over_one_mebibyte_get_413(api: Api) -> None:
    for target in TARGETS:
        body = target.body(api.world, api.world.n())
        corpus.set_path(body, (target.free or target.coded)[0], "x" * (MIB + 10))
        raw = json.dumps(body).encode()
        assert len(raw) > MIB
        error = await api.refused("POST", target.path(api.world), raw=raw, status=413)
        assert error["errors"][0]["errorCode"] == 1400

        async def chunks(data: bytes = raw) -> AsyncIterator[bytes]:  # no Content-Length
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]

        error = await api.refused(
            "POST",
            target.path(api.world),
            content=chunks(),
            headers={"Content-Type": "application/json"},
            status=413,
        )
        assert error["errors"][0]["errorCode"] == 1400


# --- wrong types -----------------------------------------------------------------------------


async def test_wrong_types_are_refused(api: Api) -> None:
    for target in TARGETS:
        for dotted, value in corpus.leaves(target.body(api.world, 0)):
            for wrong in corpus.wrong_types(value):
                body = with_value(target, api.world, dotted, wrong)
                error = await api.refused("POST", target.path(api.world), body, status=400)
                assert error["errors"][0]["errorCode"] in (1001, 1002, 1003, 1008), (
                    target.name,
                    dotted,
                    error,
                )


# --- unicode and injection in every text field --------------------------------------------


async def test_nul_and_unpaired_surrogates_are_refused_in_every_text_field(api: Api) -> None:
    for target in TARGETS:
        for dotted in target.free + target.coded + target.secret:
            for value in corpus.REFUSED_UNICODE:
                body = with_value(target, api.world, dotted, value)
                # an id that cannot be one of ours is unknown: 404; anything else: 400
                expected = {400, 404} if dotted in corpus.ID_FIELDS else {400}
                await api.refused("POST", target.path(api.world), body, status=expected)


async def test_coded_fields_refuse_injection_strings(api: Api) -> None:
    for target in TARGETS:
        for dotted in target.coded:
            for value in corpus.INJECTIONS:
                body = with_value(target, api.world, dotted, value)
                await api.refused("POST", target.path(api.world), body)


async def test_free_text_keeps_injection_and_unicode_verbatim_and_escaped(
    api: Api, tenant: Tenant
) -> None:
    await portal_login(api.client, tenant.admin.email, tenant.password)
    for target in TARGETS:
        for dotted in target.free:
            for value in corpus.INJECTIONS + corpus.ACCEPTABLE_UNICODE:
                await _accepted_verbatim_and_escaped(api, target, dotted, value)
        for dotted in target.secret:
            for value in corpus.INJECTIONS:
                body = with_value(target, api.world, dotted, value + " long enough")
                response = await api.post_valid(target, body)
                assert response.status_code == target.success, (dotted, value, response.text)
                assert not await api.stored(target.table, value + " long enough"), dotted


async def _accepted_verbatim_and_escaped(api: Api, target: Target, dotted: str, value: str) -> None:
    what = (target.name, dotted, value)
    response = await api.post_valid(target, with_value(target, api.world, dotted, value))
    assert response.status_code == target.success, (*what, response.text)
    # stored verbatim...
    assert await api.stored(target.table, value), what
    # ...and given back verbatim by the API
    if dotted in target.returned:
        read = await api.client.get(target.read(api.world, response), headers=bearer(api.token))
        assert read.status_code == 200, (*what, read.text)
        assert contains(read.json(), value), (*what, read.text[:500])
    if value not in corpus.INJECTIONS:
        return
    # shown escaped: never the raw markup
    page = await api.client.get(target.page(api.world, response))
    assert page.status_code == 200, (*what, page.text[:500])
    for markup in corpus.HTML:
        assert markup not in page.text, (*what, "raw markup in", target.page(api.world, response))
    if dotted in target.shown:
        assert str(escape(value)) in page.text, (*what, "not shown on the page")


async def test_every_text_field_of_the_bodies_is_in_the_corpus(world: World) -> None:
    for target in TARGETS:
        body = target.body(world, 1)
        text_fields = {dotted for dotted, value in corpus.leaves(body) if isinstance(value, str)}
        listed = set(target.free) | set(target.coded) | set(target.secret)
        assert text_fields <= listed, (target.name, sorted(text_fields - listed))
        assert set(target.shown) <= set(target.free), target.name
        assert set(target.returned) <= set(target.free), target.name


# --- E.164, ISO codes ----------------------------------------------------------------------

INVALID_E164 = (
    "12345",
    "+",
    "+1",
    "++14155550100",
    "+1415555010a",
    "+1415555",  # too short
    "+1415555010012345",  # too long
    "+999123456789",  # no such country code
    "+14155550100..14155550000",  # a range that runs backwards
    "+14155550100..+442071838750",  # a range across countries
    "0014155550100",
)


async def test_invalid_e164_numbers_are_refused(api: Api) -> None:
    w = api.world
    numbers, subscribers, customers = (
        next(t for t in TARGETS if t.name == name)
        for name in ("numbers", "subscribers", "customers")
    )
    for value in INVALID_E164:
        await api.refused("POST", numbers.path(w), {"phoneNumbers": [value]}, status=400)
        body = with_value(subscribers, w, "provisioningParameters.primaryPhoneNumber", value)
        await api.refused("POST", subscribers.path(w), body, status=400)
        body = with_value(customers, w, "provisioningParameters.calling.location.mainNumber", value)
        await api.refused("POST", customers.path(w), body, status=400)


async def test_numbers_outside_the_country_or_empty_are_refused(api: Api) -> None:
    numbers = next(t for t in TARGETS if t.name == "numbers")
    for value in ("+442071838750", "+33142685300", ""):
        body = {"phoneNumbers": [value]}
        await api.refused("POST", numbers.path(api.world), body, status=400)
    await api.refused("POST", numbers.path(api.world), {"phoneNumbers": []}, status=400)


INVALID_CODES = (
    ("templates", "country", ("XX", "USA", "u", "1")),
    ("templates", "defaultEmailLanguage", ("xx_XX", "english", "en_ZZ", "e")),
    ("customers", "address.country", ("ZZ", "USA", "")),
    ("customers", "address.stateOrProvince", ("ZZ", "California!")),
    ("customers", "customerInfo.language", ("zz_ZZ", "klingon")),
    ("customers", "provisioningParameters.calling.location.timezone", ("Mars/Olympus",)),
    ("customers", "provisioningParameters.calling.location.language", ("xx",)),
    ("customers", "provisioningParameters.meetings.timezone", ("UTC+25",)),
    ("locations", "address.country", ("XX", "")),
    ("locations", "address.state", ("ZZ",)),
    ("locations", "preferredLanguage", ("tlh", "xx_XX")),
    ("locations", "announcementLanguage", ("xx",)),
    ("locations", "timeZone", ("Europe/Atlantis", "")),
)


async def test_invalid_iso_codes_are_refused(api: Api) -> None:
    for target_name, dotted, values in INVALID_CODES:
        target = next(t for t in TARGETS if t.name == target_name)
        for value in values:
            body = with_value(target, api.world, dotted, value)
            error = await api.refused("POST", target.path(api.world), body, status=400)
            assert error["errors"][0]["errorCode"] in (1002, 1003, 1004), (dotted, value, error)


# --- pagination ------------------------------------------------------------------------------

LISTS = (
    ("customers", lambda w: "/v1/wholesale/customers", 100),
    ("subscribers", lambda w: f"/v1/wholesale/subscribers?customerId={w.customer_id}", 100),
    ("subPartners", lambda w: "/v1/wholesale/subPartners", 100),
    ("templates", lambda w: "/v1/partner/templates", 1000),
    ("locations", lambda w: f"/v1/locations?orgId={w.setup.org}", 1000),
    ("numbers", lambda w: "/v1/telephony/config/numbers", 1000),
    (
        "customer administrators",
        lambda w: f"/v1/partner/customers/{w.customer_id}/administrators",
        1000,
    ),
    ("imports", lambda w: f"/v1/partner/customers/{w.customer_id}/imports", 1000),
    ("identity providers", lambda w: "/v1/partner/identityProviders", 1000),
)


async def test_out_of_range_pagination_is_refused(api: Api) -> None:
    for name, path, limit in LISTS:
        base = path(api.world)
        sep = "&" if "?" in base else "?"
        bad = [
            "offset=-1",
            "offset=2147483648",
            "offset=99999999999999999999999",
            "offset=abc",
            "offset=1.5",
            "offset=%00",
            "max=0",
            "max=-1",
            f"max={limit + 1}",
            "max=1000000000000000000000000000",
            "max=ten",
            "max=1e2",
        ]
        for query in bad:
            error = await api.refused("GET", f"{base}{sep}{query}", status=400)
            assert error["errors"][0]["errorCode"] == 1003, (name, query, error)
        # the edges themselves are fine
        for query in ("offset=2147483647", f"max={limit}", "offset=0&max=1"):
            response = await api.send("GET", f"{base}{sep}{query}")
            assert response.status_code == 200, (name, query, response.text)
