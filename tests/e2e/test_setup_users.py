"""Setting up a customer in a real browser (S22-S24) against ``partnerhub serve``.

From the partner's customer page: "Set up customer" → "Add users" opens the customer's own
users page (with the banner naming the organization); "Add users (wholesale)" takes two rows,
one meetings-only and one calling; "Assign numbers" offers the headquarters and only its
available numbers; both users then show in the list, the calling one with its number, and
that number is no longer offered as available.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from partnerhub.db import Database
from tests.conftest import LiveServer, bearer
from tests.customers.helpers import BASE, WRITE
from tests.e2e.test_template_wizard import sign_in
from tests.factories import create_template, make_tenant

pytestmark = pytest.mark.browser
NUMBERS = ["+390212345601", "+390212345602", "+390212345603"]
NUMBERS_READ = "partnerhub:numbers_read"
BRANCH_NUMBER = "+390612345601"


def italian_customer(provisioning_id: str) -> dict[str, Any]:
    address = {
        "addressLine1": "Via Roma 1",
        "city": "Milano",
        "stateOrProvince": "MI",
        "zipOrPostalCode": "20121",
        "country": "IT",
    }
    return {
        "provisioningId": provisioning_id,
        "packages": ["webex_calling", "webex_meetings"],
        "externalId": "crm-pizzeria",
        "address": address,
        "customerInfo": {"name": "Pizzeria Roma", "primaryEmail": "owner@pizzeria.example"},
        "provisioningParameters": {
            "calling": {
                "location": {
                    "name": "Sede di Milano",
                    "address": address,
                    "timezone": "Europe/Rome",
                    "language": "it_IT",
                    "numbers": NUMBERS,
                }
            }
        },
    }


async def provisioned(api: httpx.AsyncClient, url: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = (await api.get(url, headers=bearer(token))).json()
        if body.get("status") == "provisioned":
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"the customer was not provisioned: {body}")


async def number_options(page: Page) -> list[str]:
    values = (
        await page.get_by_label("Phone number", exact=True)
        .locator("option")
        .evaluate_all(
            "options => options.filter(o => o.value && !o.parentElement.disabled).map(o => o.value)"
        )
    )
    return list(values)


async def test_add_two_users_with_assign_numbers(
    context: BrowserContext, live_server: LiveServer, live_db: Database
) -> None:
    tenant = await make_tenant(live_db, "Acme")
    token = await tenant.token(
        WRITE,
        "partnerhub:templates_write",
        "partnerhub:locations_write",
        "partnerhub:numbers_write",
    )
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        template = await create_template(api, tenant)
        created = await api.post(
            BASE, json=italian_customer(template["provisioningId"]), headers=bearer(token)
        )
        assert created.status_code == 202, created.text
        customer = await provisioned(api, created.headers["Location"], token)
        # A second location with its own number
        branch = await api.post(
            "/v1/locations",
            json={
                "orgId": customer["orgId"],
                "name": "Filiale di Roma",
                "timeZone": "Europe/Rome",
                "preferredLanguage": "it_it",
                "address": {
                    "address1": "Via del Corso 10",
                    "city": "Roma",
                    "state": "RM",
                    "postalCode": "00186",
                    "country": "IT",
                },
            },
            headers=bearer(token),
        )
        assert branch.status_code == 201, branch.text
        added = await api.post(
            f"/v1/telephony/config/locations/{branch.json()['id']}/numbers",
            json={"phoneNumbers": [BRANCH_NUMBER]},
            headers=bearer(token),
        )
        assert added.status_code == 201, added.text

    page = await context.new_page()
    await sign_in(page, tenant)
    # Customers → select the customer → Set up customer → Add users
    await page.locator("nav.mainnav").get_by_role("link", name="Customers").click()
    await page.get_by_role("link", name="Pizzeria Roma").click()
    await expect(page.locator("#customer-status")).to_have_text("Provisioned")
    await page.get_by_role("link", name="Set up customer").click()
    await expect(page.get_by_role("heading", name="Set up customer")).to_be_visible()
    await expect(
        page.locator('#setup-locations tr[data-location="Sede di Milano"]')
    ).to_contain_text("3")
    await page.get_by_role("link", name="Add users").click()

    # The customer's own users page, with the banner saying whose organization it is
    await expect(page).to_have_url(re.compile(r"/org/[A-Za-z0-9_-]+/users$"))
    await expect(page.locator("#org-name")).to_have_text("Pizzeria Roma")
    await expect(page.locator("#acting-banner")).to_contain_text("Pizzeria Roma")
    await expect(page.locator("#acting-banner")).to_contain_text(tenant.admin.email)
    await page.get_by_role("link", name="Add users (wholesale)").click()

    # Two rows: first name, last name, email, package; Next
    await page.get_by_label("First name", exact=True).fill("Anna")
    await page.get_by_label("Last name", exact=True).fill("Bianchi")
    await page.get_by_label("Email address", exact=True).fill("anna@pizzeria.example")
    await page.get_by_label("Package", exact=True).select_option(label="Webex Meetings")
    await page.get_by_role("button", name="Add another user").click()
    await expect(page.get_by_label("First name", exact=True)).to_have_value("Anna")
    await page.get_by_label("First name (user 2)").fill("Marco")
    await page.get_by_label("Last name (user 2)").fill("Rossi")
    await page.get_by_label("Email address (user 2)").fill("marco@pizzeria.example")
    await page.get_by_label("Package (user 2)").select_option(label="Webex Calling")
    await page.get_by_role("button", name="Next").click()

    # Assign numbers: the location, and only its available numbers
    await expect(
        page.locator('#assign-rows tr[data-email="marco@pizzeria.example"]')
    ).to_be_visible()
    await expect(page.locator("#assign-rows")).not_to_contain_text("anna@pizzeria.example")
    # The headquarters comes first; each location offers only its own numbers
    await expect(page.get_by_label("Location", exact=True)).to_have_value(re.compile(".+"))
    assert await number_options(page) == NUMBERS
    await page.get_by_label("Location", exact=True).select_option(label="Filiale di Roma")
    assert await number_options(page) == [BRANCH_NUMBER]
    await page.get_by_label("Location", exact=True).select_option(label="Sede di Milano")
    assert await number_options(page) == NUMBERS
    await page.get_by_label("Phone number", exact=True).select_option("+390212345602")
    await page.get_by_role("button", name="Assign numbers").click()

    # Both users in the list, the calling one with its number
    await expect(page.locator("#org-notice")).to_contain_text("Users added: 2")
    anna = page.locator('#org-users tr[data-email="anna@pizzeria.example"]')
    marco = page.locator('#org-users tr[data-email="marco@pizzeria.example"]')
    await expect(anna).to_contain_text("Anna Bianchi")
    await expect(anna).to_contain_text("Webex Meetings")
    await expect(marco).to_contain_text("Marco Rossi")
    await expect(marco).to_contain_text("Webex Calling")
    await expect(marco).to_contain_text("+390212345602")

    # The number is gone from the available numbers
    await page.get_by_role("link", name="Add users (wholesale)").click()
    await page.get_by_label("Email address", exact=True).fill("luca@pizzeria.example")
    await page.get_by_label("Package", exact=True).select_option(label="Webex Calling")
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_label("Phone number", exact=True)).to_be_visible()
    assert await number_options(page) == ["+390212345601", "+390212345603"]
    await page.goto(f"/customers/{created.headers['Location'].rsplit('/', 1)[1]}/setup")
    row = page.locator('#setup-locations tr[data-location="Sede di Milano"]')
    await expect(row.locator(".available")).to_have_text("2")
    await expect(row.locator(".assigned")).to_have_text("1")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        listed = await api.get(
            "/v1/telephony/config/numbers",
            params={"orgId": customer["orgId"], "available": "true"},
            headers=bearer(token),
        )
    assert listed.status_code == 200, listed.text
    assert sorted(n["phoneNumber"] for n in listed.json()["phoneNumbers"]) == [
        "+390212345601",
        "+390212345603",
        BRANCH_NUMBER,
    ]
