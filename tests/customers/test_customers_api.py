"""The wholesale customers API against CONTRACT sections 1-3 and 6: shapes, headers, every
validation rule and error code, scopes, and that a refused request saves nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.models import Customer, OrgUser
from tests.conftest import assert_error, bearer
from tests.customers.helpers import BASE, PRECHECK, READ, WRITE, wait_for
from tests.factories import Tenant, create_template, customer_body, location, meetings_body


async def count_customers(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(Customer.id)))).scalar_one())


async def test_create_answers_202_with_absolute_location(
    client: httpx.AsyncClient, template: dict[str, Any], token: str
) -> None:
    response = await client.post(
        BASE,
        json=customer_body(template["provisioningId"]),
        headers={**bearer(token), "TrackingID": "my-tracking-1"},
    )
    assert response.status_code == 202, response.text
    location_url = response.headers["Location"]
    assert location_url.startswith("https://testserver/v1/wholesale/customers/")
    assert response.json() == {"url": location_url}
    assert response.headers["TrackingID"] == "my-tracking-1"
    customer_id = location_url.rsplit("/", 1)[1]
    assert ids.decode("CUSTOMER", customer_id) is not None

    got = await client.get(location_url, headers=bearer(token))
    assert got.status_code == 200
    assert got.headers["TrackingID"]
    body = got.json()
    assert body["id"] == customer_id
    assert body["status"] == "provisioning"
    assert "orgId" not in body  # no organization yet
    assert body["externalId"] == "ext-1"
    assert body["packages"] == ["webex_calling", "webex_meetings"]
    assert body["address"]["addressLine2"] == "Cisco Site 5"
    assert body["resourceDetails"]["packages"] == [
        {"name": "webex_calling", "status": "provisioning", "warnings": [], "errors": []},
        {"name": "webex_meetings", "status": "provisioning", "warnings": [], "errors": []},
    ]
    assert body["errors"] == []
    # hub extras
    assert body["name"] == "John's Pizza 1"
    assert body["dataRegion"] == "US"
    assert body["provisioningId"] == template["provisioningId"]
    assert body["created"].endswith("Z") and body["lastStatusChange"].endswith("Z")


async def test_provisioned_customer_has_org_and_license_ids(
    client: httpx.AsyncClient, template: dict[str, Any], token: str, worker: None
) -> None:
    response = await client.post(
        BASE, json=customer_body(template["provisioningId"]), headers=bearer(token)
    )
    body = await wait_for(client, response.headers["Location"], token)
    assert body["status"] == "provisioned"
    assert ids.decode("ORGANIZATION", body["orgId"]) is not None
    assert all(p["status"] == "provisioned" for p in body["resourceDetails"]["packages"])
    assert all("licenseIds" not in p for p in body["resourceDetails"]["packages"])

    with_licenses = await client.get(
        response.headers["Location"],
        params={"includePackageLicenseInfo": "true"},
        headers=bearer(token),
    )
    packages = with_licenses.json()["resourceDetails"]["packages"]
    assert all(len(p["licenseIds"]) == 1 for p in packages)
    assert packages[0]["licenseIds"] != packages[1]["licenseIds"]
    without = await client.get(
        response.headers["Location"],
        params={"includePackageLicenseInfo": "false"},
        headers=bearer(token),
    )
    assert all("licenseIds" not in p for p in without.json()["resourceDetails"]["packages"])


async def test_template_counts_its_customers(
    client: httpx.AsyncClient, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    await client.post(BASE, json=customer_body(template["provisioningId"]), headers=bearer(token))
    tread = await tenant.token("partnerhub:templates_read")
    got = await client.get(f"/v1/partner/templates/{template['id']}", headers=bearer(tread))
    assert got.json()["customerCount"] == 1


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _with(body: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return body


LOC = ("provisioningParameters", "calling", "location")

# (change to a valid body, status, errorCode, words the description must contain)
CASES: list[tuple[str, Any, int, int, str]] = [
    (
        "missing provisioningId",
        lambda b: _without(b, "provisioningId"),
        400,
        1002,
        "provisioningId",
    ),
    ("missing packages", lambda b: _without(b, "packages"), 400, 1002, "packages"),
    ("empty packages", lambda b: _with(b, [], "packages"), 400, 1002, "packages"),
    ("missing externalId", lambda b: _without(b, "externalId"), 400, 1002, "externalId"),
    ("blank externalId", lambda b: _with(b, "  ", "externalId"), 400, 1002, "externalId"),
    ("missing address", lambda b: _without(b, "address"), 400, 1002, "address"),
    ("missing city", lambda b: _without(b, "address", "city"), 400, 1002, "address.city"),
    (
        "missing addressLine1",
        lambda b: _without(b, "address", "addressLine1"),
        400,
        1002,
        "address.addressLine1",
    ),
    ("missing country", lambda b: _without(b, "address", "country"), 400, 1002, "address.country"),
    (
        "missing primaryEmail",
        lambda b: _without(b, "customerInfo", "primaryEmail"),
        400,
        1002,
        "customerInfo.primaryEmail",
    ),
    ("missing name", lambda b: _without(b, "customerInfo", "name"), 400, 1002, "customerInfo.name"),
    (
        "missing location timezone",
        lambda b: _without(b, *LOC, "timezone"),
        400,
        1002,
        "location.timezone",
    ),
    (
        "missing location name",
        lambda b: _without(b, *LOC, "name"),
        400,
        1002,
        "location.name",
    ),
    (
        "missing location address",
        lambda b: _without(b, *LOC, "address"),
        400,
        1002,
        "location.address",
    ),
    ("unknown package", lambda b: _with(b, ["webex_fax"], "packages"), 400, 1003, "webex_fax"),
    (
        "country not ISO",
        lambda b: _with(b, "XX", "address", "country"),
        400,
        1003,
        "address.country",
    ),
    (
        "address line over 50",
        lambda b: _with(b, "x" * 51, "address", "addressLine1"),
        400,
        1003,
        "address.addressLine1",
    ),
    (
        "city over 50",
        lambda b: _with(b, "y" * 51, "address", "city"),
        400,
        1003,
        "address.city",
    ),
    (
        "bad email",
        lambda b: _with(b, "not-an-email", "customerInfo", "primaryEmail"),
        400,
        1003,
        "customerInfo.primaryEmail",
    ),
    (
        "bad language",
        lambda b: _with(b, "xx_YY", "customerInfo", "language"),
        400,
        1003,
        "customerInfo.language",
    ),
    (
        "bad timezone",
        lambda b: _with(b, "Mars/Olympus", *LOC, "timezone"),
        400,
        1003,
        "Mars/Olympus",
    ),
    ("bad location language", lambda b: _with(b, "zz", *LOC, "language"), 400, 1003, "language"),
    ("unknown field", lambda b: _with(b, 1, "color"), 400, 1003, "color"),
    ("wrong type", lambda b: _with(b, "webex_calling", "packages"), 400, 1003, "packages"),
    ("orgId not an org id", lambda b: _with(b, "abc", "orgId"), 400, 1003, "orgId"),
    (
        "limit not a number",
        lambda b: _with(
            b, {"limits": {"webex_calling": "ten"}}, "provisioningParameters", "packages"
        ),
        400,
        1003,
        "limits.webex_calling",
    ),
    (
        "limit for a package not chosen",
        lambda b: _with(b, {"limits": {"webex_suite": 5}}, "provisioningParameters", "packages"),
        400,
        1003,
        "webex_suite",
    ),
    (
        "meetings timezone",
        lambda b: _with(b, {"timezone": "Nowhere/City"}, "provisioningParameters", "meetings"),
        400,
        1003,
        "meetings.timezone",
    ),
    (
        "subPartnerAdminEmail",
        lambda b: _with(b, "nope", "subPartnerAdminEmail"),
        400,
        1003,
        "subPartnerAdminEmail",
    ),
    (
        "US without state",
        lambda b: _without(b, "address", "stateOrProvince"),
        400,
        1004,
        "stateOrProvince",
    ),
    (
        "US with a bad zip",
        lambda b: _with(b, "ABCDE", "address", "zipOrPostalCode"),
        400,
        1004,
        "zipOrPostalCode",
    ),
    (
        "unknown state",
        lambda b: _with(b, "Atlantis", "address", "stateOrProvince"),
        400,
        1004,
        "stateOrProvince",
    ),
    (
        "location address: DE without postal code",
        lambda b: _with(
            b, {"addressLine1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}, *LOC, "address"
        ),
        400,
        1004,
        "location.address.zipOrPostalCode",
    ),
    (
        "neither customerInfo nor orgId",
        lambda b: _without(b, "customerInfo"),
        400,
        1005,
        "customerInfo",
    ),
    (
        "calling package without location",
        lambda b: _without(b, "provisioningParameters"),
        400,
        1006,
        "provisioningParameters.calling.location",
    ),
    (
        "attendant console without its base",
        lambda b: _with(b, ["webex_meetings", "attendant_console"], "packages"),
        400,
        1007,
        "attendant_console",
    ),
    (
        "calling plan alone",
        lambda b: _with(b, ["cisco_calling_plan"], "packages"),
        400,
        1007,
        "cisco_calling_plan",
    ),
    (
        "percent in name",
        lambda b: _with(b, "100% Pizza", "customerInfo", "name"),
        400,
        1012,
        "customerInfo.name",
    ),
    (
        "invalid legacy number",
        lambda b: _with(b, ["12345"], *LOC, "numbers"),
        400,
        1013,
        "numbers[0]",
    ),
    (
        "legacy number of another country",
        lambda b: _with(b, ["+390212345678"], *LOC, "numbers"),
        400,
        1013,
        "+390212345678",
    ),
    (
        "invalid main number",
        lambda b: _with(b, "+1 555", *LOC, "mainNumber"),
        400,
        1013,
        "mainNumber",
    ),
    (
        "unknown provisioningId",
        lambda b: _with(b, "AAAAAAAAAAAAAAAAAAAAAA", "provisioningId"),
        404,
        1100,
        "provisioningId",
    ),
]


# Rules the precheck does not apply: it only requires the address.
PRECHECK_OPTIONAL = {
    "missing provisioningId",
    "missing packages",
    "missing externalId",
    "blank externalId",
    "missing name",
    "neither customerInfo nor orgId",
}


@pytest.mark.parametrize(
    ("case", "change", "status", "code", "needle"), CASES, ids=[case[0] for case in CASES]
)
async def test_every_rule_refuses_with_its_code_and_saves_nothing(
    client: httpx.AsyncClient,
    db: Database,
    template: dict[str, Any],
    token: str,
    case: str,
    change: Any,
    status: int,
    code: int,
    needle: str,
) -> None:
    body = change(customer_body(template["provisioningId"]))
    response = await client.post(BASE, json=body, headers=bearer(token))
    error = assert_error(response, status, code)
    assert needle in str(error["message"]), error
    assert await count_customers(db) == 0
    # the precheck applies the same rule with the same code
    checked = await client.post(f"{BASE}/validate", json=body, headers=bearer(token))
    if case in PRECHECK_OPTIONAL:
        assert checked.status_code == 200, checked.text
    else:
        assert_error(checked, status, code)


async def test_body_not_json_or_not_object(
    client: httpx.AsyncClient, template: dict[str, Any], token: str
) -> None:
    broken = await client.post(
        BASE,
        content=b'{"provisioningId": ',
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_error(broken, 400, 1001)
    array = await client.post(BASE, json=[1, 2], headers=bearer(token))
    assert_error(array, 400, 1001)
    form = await client.post(
        BASE,
        content=b"a=b",
        headers={**bearer(token), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(form, 415, 1401)
    charset = await client.post(
        BASE,
        content=httpx.Request("POST", "/", json=customer_body(template["provisioningId"])).content,
        headers={**bearer(token), "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 202, charset.text


async def test_external_id_is_unique_per_partner(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    template: dict[str, Any],
    token: str,
) -> None:
    first = await client.post(
        BASE, json=customer_body(template["provisioningId"], 1), headers=bearer(token)
    )
    assert first.status_code == 202
    again = customer_body(template["provisioningId"], 2, externalId="ext-1")
    error = assert_error(await client.post(BASE, json=again, headers=bearer(token)), 409, 1200)
    assert "externalId" in str(error["message"])
    assert await count_customers(db) == 1
    # another partner may use the same externalId
    other_template = await create_template(client, other_tenant)
    other_token = await other_tenant.token(WRITE)
    theirs = customer_body(other_template["provisioningId"], 3, externalId="ext-1")
    response = await client.post(BASE, json=theirs, headers=bearer(other_token))
    assert response.status_code == 202, response.text


async def test_another_partners_template_is_not_found(
    client: httpx.AsyncClient, other_tenant: Tenant, token: str
) -> None:
    theirs = await create_template(client, other_tenant)
    response = await client.post(
        BASE, json=customer_body(theirs["provisioningId"]), headers=bearer(token)
    )
    assert_error(response, 404, 1100)


async def test_primary_email_of_an_existing_user_is_refused(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str, worker: None
) -> None:
    first = await client.post(
        BASE, json=customer_body(template["provisioningId"], 1), headers=bearer(token)
    )
    await wait_for(client, first.headers["Location"], token)
    body = customer_body(template["provisioningId"], 2)
    body["customerInfo"]["primaryEmail"] = "JOHN1@pizza.example"
    error = assert_error(await client.post(BASE, json=body, headers=bearer(token)), 409, 10022)
    assert "customerInfo.primaryEmail" in str(error["message"])
    assert await count_customers(db) == 1


async def test_scopes(
    client: httpx.AsyncClient, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    body = customer_body(template["provisioningId"])
    assert_error(await client.post(BASE, json=body), 401, 1500)
    read = await tenant.token(READ)
    assert_error(await client.post(BASE, json=body, headers=bearer(read)), 403, 1300)
    created = await client.post(BASE, json=body, headers=bearer(token))
    url = created.headers["Location"]
    assert (await client.get(url, headers=bearer(read))).status_code == 200
    assert (await client.get(BASE, headers=bearer(read))).status_code == 200
    assert_error(
        await client.put(url, json={"packages": ["webex_meetings"]}, headers=bearer(read)),
        403,
        1300,
    )
    assert_error(await client.delete(url, headers=bearer(read)), 403, 1300)
    templates_only = await tenant.token("partnerhub:templates_read")
    assert_error(await client.get(url, headers=bearer(templates_only)), 403, 1300)
    assert_error(await client.get(BASE, headers=bearer(templates_only)), 403, 1300)


async def test_precheck(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    body = customer_body(template["provisioningId"])
    ok = await client.post(f"{BASE}/validate", json=body, headers=bearer(token))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "message": "success",
        "info": {"infoCode": 100, "description": "Provisioning precheck validation successful."},
    }
    # the short variant: address and the admin email only
    short = {"address": body["address"], "customerInfo": {"primaryEmail": "a@b.example"}}
    response = await client.post(f"{BASE}/validate", json=short, headers=bearer(token))
    assert response.status_code == 200, response.text
    # sales: the precheck scope without write
    sales = await tenant.token(PRECHECK, READ)
    assert (
        await client.post(f"{BASE}/validate", json=body, headers=bearer(sales))
    ).status_code == 200
    read = await tenant.token(READ)
    assert_error(await client.post(f"{BASE}/validate", json=body, headers=bearer(read)), 403, 1300)
    # failures: 4xx with the error body
    assert_error(
        await client.post(
            f"{BASE}/validate", json={"packages": ["webex_calling"]}, headers=bearer(token)
        ),
        400,
        1002,
    )
    assert await count_customers(db) == 0
    await client.post(BASE, json=body, headers=bearer(token))
    assert_error(await client.post(f"{BASE}/validate", json=body, headers=bearer(token)), 409, 1200)
    assert await count_customers(db) == 1


async def test_data_region_from_country_or_template(
    client: httpx.AsyncClient, tenant: Tenant, template: dict[str, Any], token: str
) -> None:
    pid = template["provisioningId"]
    cases = {
        "IT": (
            {
                "addressLine1": "Via Roma 1",
                "city": "Milano",
                "stateOrProvince": "MI",
                "zipOrPostalCode": "20121",
                "country": "IT",
            },
            "EU",
        ),
        "GB": (
            {
                "addressLine1": "1 High St",
                "city": "London",
                "zipOrPostalCode": "SW1A 1AA",
                "country": "GB",
            },
            "UK",
        ),
        "JP": (
            {
                "addressLine1": "1-1 Chiyoda",
                "city": "Tokyo",
                "stateOrProvince": "Tokyo",
                "zipOrPostalCode": "100-0001",
                "country": "JP",
            },
            "JP",
        ),
        "BR": (
            {
                "addressLine1": "Av. Paulista 1",
                "city": "Sao Paulo",
                "stateOrProvince": "SP",
                "zipOrPostalCode": "01310-100",
                "country": "BR",
            },
            "US",
        ),
    }
    for n, (country, (address, region)) in enumerate(cases.items()):
        body = meetings_body(pid, f"r{n}", address=address)
        response = await client.post(BASE, json=body, headers=bearer(token))
        assert response.status_code == 202, (country, response.text)
        got = await client.get(response.headers["Location"], headers=bearer(token))
        assert got.json()["dataRegion"] == region, country
    pinned = await create_template(client, tenant, name="Pinned to SG", dataRegion="SG")
    response = await client.post(
        BASE, json=meetings_body(pinned["provisioningId"], "sg"), headers=bearer(token)
    )
    got = await client.get(response.headers["Location"], headers=bearer(token))
    assert got.json()["dataRegion"] == "SG"


async def test_data_region_is_fixed_at_creation(
    client: httpx.AsyncClient, template: dict[str, Any], token: str, worker: None
) -> None:
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    url = created.headers["Location"]
    await wait_for(client, url, token)
    moved = await client.put(
        url,
        json={
            "packages": ["webex_meetings"],
            "address": {
                "addressLine1": "Via Roma 1",
                "city": "Milano",
                "stateOrProvince": "MI",
                "zipOrPostalCode": "20121",
                "country": "IT",
            },
        },
        headers=bearer(token),
    )
    assert moved.status_code == 202, moved.text
    body = await wait_for(client, url, token)
    assert body["address"]["country"] == "IT"
    assert body["dataRegion"] == "US"


async def test_organization_keeps_a_snapshot_of_its_template(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, token: str
) -> None:
    template = await create_template(
        client,
        tenant,
        pstnProvider="PSTN Co",
        authentication={"method": "partner_saml", "idpEntityId": "https://idp.example/saml"},
        email={"brandName": "Acme Voice", "allowAdminInviteOnLink": True},
    )
    created = await client.post(
        BASE, json=customer_body(template["provisioningId"]), headers=bearer(token)
    )
    assert created.status_code == 202
    twrite = await tenant.token("partnerhub:templates_write")
    edited = {
        **{
            k: template[k]
            for k in (
                "name",
                "offer",
                "serviceProviderAdminEmail",
                "country",
                "defaultEmailLanguage",
                "wholesaleSubscriptionId",
            )
        },
        "email": {"brandName": "Renamed"},
        "authentication": {"method": "platform"},
    }
    changed = await client.put(
        f"/v1/partner/templates/{template['id']}", json=edited, headers=bearer(twrite)
    )
    assert changed.status_code == 200, changed.text
    async with db.transaction() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.settings["email"]["brandName"] == "Acme Voice"
    assert customer.settings["email"]["allowAdminInviteOnLink"] is True
    assert customer.settings["authentication"] == {
        "method": "partner_saml",
        "idpEntityId": "https://idp.example/saml",
        "oidcIdpName": None,
    }
    assert customer.settings["pstn"] == {"provider": "PSTN Co"}
    assert customer.settings["calling"] == {"allowPlatformCalling": False}
    assert customer.settings["template"]["provisioningId"] == template["provisioningId"]


async def test_first_administrator_and_hq_location(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str, worker: None
) -> None:
    from partnerhub.customers import service

    body = customer_body(
        template["provisioningId"],
        packages=["webex_suite", "webex_meetings", "attendant_console"],
    )
    body["customerInfo"]["primaryEmail"] = "Boss@Pizza.example"
    loc = body["provisioningParameters"]["calling"]["location"]
    loc["numbers"] = ["+1 408 555 0100", "+14085550101"]
    loc["mainNumber"] = "+1 408-555-0102"
    loc["emergencyLocationIdentifier"] = "95547321"
    created = await client.post(BASE, json=body, headers=bearer(token))
    assert created.status_code == 202, created.text
    settled = await wait_for(client, created.headers["Location"], token)
    assert settled["status"] == "provisioned"
    async with db.transaction() as session:
        users = list((await session.execute(select(OrgUser))).scalars())
        customer = (await session.execute(select(Customer))).scalar_one()
    assert len(users) == 1
    admin = users[0]
    assert admin.email == "boss@pizza.example"
    assert admin.roles == ["full_admin"]
    assert admin.package == "webex_suite"  # the highest tier of the customer's packages
    assert admin.org_id == customer.org_id
    assert customer.sip_domain and customer.sip_domain.endswith(".sip.partnerhub.invalid")
    hq = service.hq_location(customer)
    assert hq is not None
    assert hq.name == "Head Office"
    assert hq.timezone == "America/Los_Angeles"
    assert hq.numbers == ("+14085550102", "+14085550100", "+14085550101")
    assert hq.main_number == "+14085550102"
    assert hq.emergency_location_identifier == "95547321"
    assert hq.org_id == customer.org_id


async def test_attaching_an_existing_organization(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str, worker: None
) -> None:
    org = uuid.uuid4()
    body = meetings_body(template["provisioningId"], orgId=ids.encode("ORGANIZATION", org, "us"))
    del body["customerInfo"]
    created = await client.post(BASE, json=body, headers=bearer(token))
    assert created.status_code == 202, created.text
    settled = await wait_for(client, created.headers["Location"], token)
    assert settled["status"] == "provisioned"
    assert ids.decode("ORGANIZATION", settled["orgId"]) == org
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(OrgUser.id)))).scalar_one() == 0
    again = meetings_body(
        template["provisioningId"], 2, orgId=ids.encode("ORGANIZATION", org, "us")
    )
    assert_error(await client.post(BASE, json=again, headers=bearer(token)), 409, 1200)


async def test_put_is_a_full_replacement(
    client: httpx.AsyncClient, template: dict[str, Any], token: str, worker: None
) -> None:
    created = await client.post(
        BASE, json=customer_body(template["provisioningId"]), headers=bearer(token)
    )
    url = created.headers["Location"]
    await wait_for(client, url, token)
    response = await client.put(
        url,
        json={"packages": ["webex_calling", "webex_voice"], "externalId": "renamed"},
        headers=bearer(token),
    )
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == url
    assert response.json() == {"url": url}
    body = await wait_for(client, url, token)
    assert body["status"] == "provisioned"
    assert body["packages"] == ["webex_calling", "webex_voice"]
    assert [p["name"] for p in body["resourceDetails"]["packages"]] == [
        "webex_calling",
        "webex_voice",
    ]
    assert body["externalId"] == "renamed"


async def test_put_rules(
    client: httpx.AsyncClient, template: dict[str, Any], token: str, worker: None
) -> None:
    pid = template["provisioningId"]
    created = await client.post(BASE, json=meetings_body(pid, 1), headers=bearer(token))
    other = await client.post(BASE, json=meetings_body(pid, 2), headers=bearer(token))
    url = created.headers["Location"]
    await wait_for(client, url, token)
    await wait_for(client, other.headers["Location"], token)
    assert_error(await client.put(url, json={}, headers=bearer(token)), 400, 1002)
    assert_error(
        await client.put(url, json={"packages": ["webex_calling"]}, headers=bearer(token)),
        400,
        1006,
    )
    assert_error(
        await client.put(url, json={"packages": ["cisco_calling_plan"]}, headers=bearer(token)),
        400,
        1007,
    )
    error = assert_error(
        await client.put(
            url,
            json={"packages": ["webex_meetings"], "customerInfo": {"name": "Other"}},
            headers=bearer(token),
        ),
        400,
        1003,
    )
    assert "customerInfo" in str(error["message"])
    assert_error(
        await client.put(
            url,
            json={"packages": ["webex_meetings"], "provisioningId": "changed"},
            headers=bearer(token),
        ),
        400,
        1003,
    )
    assert_error(
        await client.put(
            url, json={"packages": ["webex_meetings"], "externalId": "ext-2"}, headers=bearer(token)
        ),
        409,
        1200,
    )
    # unchanged customerInfo and provisioningId are accepted
    same = await client.put(
        url,
        json={
            "packages": ["webex_meetings", "webex_calling"],
            "customerInfo": {"name": "John's Pizza 1"},
            "provisioningId": pid,
            "provisioningParameters": {"calling": {"location": location("US")}},
        },
        headers=bearer(token),
    )
    assert same.status_code == 202, same.text
    body = await wait_for(client, url, token)
    assert body["packages"] == ["webex_meetings", "webex_calling"]


async def test_busy_customer_refuses_put_and_delete(
    client: httpx.AsyncClient, template: dict[str, Any], token: str
) -> None:
    created = await client.post(
        BASE, json=customer_body(template["provisioningId"]), headers=bearer(token)
    )
    url = created.headers["Location"]
    # no worker runs: the customer stays in "provisioning"
    error = assert_error(
        await client.put(url, json={"packages": ["webex_meetings"]}, headers=bearer(token)),
        409,
        1201,
    )
    assert "provisioning" in str(error["message"])
    assert_error(await client.delete(url, headers=bearer(token)), 409, 1201)


async def test_delete(
    client: httpx.AsyncClient, db: Database, template: dict[str, Any], token: str, worker: None
) -> None:
    created = await client.post(
        BASE, json=customer_body(template["provisioningId"]), headers=bearer(token)
    )
    url = created.headers["Location"]
    await wait_for(client, url, token)
    response = await client.delete(url, headers=bearer(token))
    assert response.status_code == 202
    assert response.content == b""
    await wait_for(client, url, token, gone=True)
    assert_error(await client.get(url, headers=bearer(token)), 404, 1100)
    async with db.transaction() as session:
        assert (await session.execute(select(func.count(OrgUser.id)))).scalar_one() == 0
        # the invitation stays visible in the outbox
        mails = (await session.execute(text("SELECT count(*) FROM outbox_emails"))).scalar_one()
    assert mails == 1
    # the externalId is free again
    again = await client.post(
        BASE, json=customer_body(template["provisioningId"], 1), headers=bearer(token)
    )
    assert again.status_code == 202, again.text


async def test_approval_hold(
    client: httpx.AsyncClient, tenant: Tenant, token: str, worker: None
) -> None:
    template = await create_template(client, tenant, requireApproval=True)
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    url = created.headers["Location"]
    got = await client.get(url, headers=bearer(token))
    assert got.json()["status"] == "pending_rpl_review"
    approved = await client.post(f"{url}/approve", headers=bearer(token))
    assert approved.status_code == 202, approved.text
    body = await wait_for(client, url, token)
    assert body["status"] == "provisioned"
    assert_error(await client.post(f"{url}/approve", headers=bearer(token)), 409, 1204)


async def test_unknown_and_malformed_ids_are_404(client: httpx.AsyncClient, token: str) -> None:
    for customer_id in (
        "nope",
        ids.encode("CUSTOMER", uuid.uuid4(), "us"),
        ids.encode("TEMPLATE", uuid.uuid4(), "us"),
    ):
        url = f"{BASE}/{customer_id}"
        assert_error(await client.get(url, headers=bearer(token)), 404, 1100)
        assert_error(
            await client.put(url, json={"packages": ["webex_meetings"]}, headers=bearer(token)),
            404,
            1100,
        )
        assert_error(await client.delete(url, headers=bearer(token)), 404, 1100)
