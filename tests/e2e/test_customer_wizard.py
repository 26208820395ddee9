"""The "Create wholesale customer" wizard (S14-S19) in a real browser against
``partnerhub serve``: refusal without the supported-location confirmation, refusal of an
add-on without its base package, and a customer page that turns ``provisioned`` by itself."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from partnerhub.db import Database
from tests.conftest import LiveServer, bearer
from tests.e2e.test_template_wizard import sign_in
from tests.factories import make_tenant

pytestmark = pytest.mark.browser


async def test_create_wholesale_customer(
    context: BrowserContext, live_server: LiveServer, live_db: Database
) -> None:
    tenant = await make_tenant(live_db, "Acme")
    token = await tenant.token("partnerhub:templates_write")
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        response = await api.post(
            "/v1/partner/templates",
            json={
                "name": "SMB Italy",
                "serviceProviderAdminEmail": tenant.admin.email,
                "country": "IT",
                "defaultEmailLanguage": "it_IT",
                "wholesaleSubscriptionId": "Sub-1234",
                "email": {"brandName": "Acme Cloud"},
            },
            headers=bearer(token),
        )
        assert response.status_code == 201, response.text

    page = await context.new_page()
    await sign_in(page, tenant)
    await page.locator("nav.mainnav").get_by_role("link", name="Customers").click()
    await expect(page).to_have_url(re.compile(r"/customers$"))
    await page.locator("#customer-actions summary").click()  # Actions → Create wholesale customer
    await page.get_by_role("link", name="Create wholesale customer").click()

    # Customer information: Next refuses without the supported-location confirmation
    await page.get_by_label("Company name").fill("Pizzeria Roma")
    await page.get_by_label("Admin email").fill("owner@pizzeria.example")
    await page.get_by_label("External customer ID").fill("crm-77")
    await page.get_by_label("Country or region").select_option("IT")
    await page.get_by_label("Onboarding template").select_option(label="SMB Italy")
    await page.get_by_role("button", name="Next").click()
    await expect(page.locator("#supported-error")).to_have_text(
        "Confirm that this customer is in a supported location"
    )
    await expect(page.get_by_label("Company name")).to_have_value("Pizzeria Roma")
    await page.get_by_label("I verify that this customer is in a supported location").check()
    await page.get_by_role("button", name="Next").click()

    # Packages and add-ons: an add-on without its base package is refused
    await expect(page.get_by_role("heading", name="Packages and add-ons")).to_be_visible()
    await expect(page.locator("#package-choices")).to_contain_text(
        "Add-on: needs one of Webex Calling, Webex Suite, Customer Assist"
    )
    await page.get_by_label("Webex Meetings", exact=True).check()
    await page.get_by_label("Attendant Console", exact=True).check()
    await page.get_by_role("button", name="Next").click()
    await expect(page.locator("#packages-error")).to_contain_text(
        "Attendant Console needs one of Webex Calling, Webex Suite, Customer Assist"
    )
    await page.get_by_label("Webex Calling", exact=True).check()
    await page.get_by_role("button", name="Next").click()

    # Headquarters location
    await expect(page.get_by_role("heading", name="Headquarters location")).to_be_visible()
    await page.get_by_label("Location name").fill("Sede di Milano")
    await page.get_by_label("Address line 1").fill("Via Roma 1")
    await page.get_by_label("City").fill("Milano")
    await page.get_by_label("State or province").fill("MI")
    await page.get_by_label("Postal code").fill("20121")
    await page.get_by_label("Time zone").select_option("Europe/Rome")
    await page.get_by_label("Location language").select_option("it_IT")
    await page.get_by_label("Phone numbers (optional)").fill("+390212345601\n+390212345602")
    await page.get_by_role("button", name="Next").click()

    # Summary, then Create: the customer page follows provisioning until it settles
    await expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    await expect(page.locator("#summary-packages")).to_contain_text("Attendant Console")
    await page.get_by_role("button", name="Create customer").click()
    await expect(page.get_by_role("heading", name="Pizzeria Roma")).to_be_visible()
    await expect(page.locator("#customer-status")).to_have_text("Provisioned", timeout=30_000)
    await expect(page.locator('#packages tr[data-package="attendant_console"]')).to_contain_text(
        "Provisioned"
    )
    # The numbers typed for the headquarters are in its inventory, ready for set-up
    await page.get_by_role("link", name="Set up customer").click()
    row = page.locator('#setup-locations tr[data-location="Sede di Milano"]')
    await expect(row.locator(".available")).to_have_text("2")
