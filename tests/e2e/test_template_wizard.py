"""The onboarding-template wizard in a real browser (S5-S12), against ``partnerhub serve``.

Log in through the form, go Customers → Onboarding templates → Create template, walk every
step (with refusals that keep what was typed), use an Edit link from review, submit, copy the
Provisioning ID, and find the same template through the API.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from partnerhub.db import Database
from tests.conftest import LiveServer, bearer
from tests.factories import Tenant, make_tenant

pytestmark = pytest.mark.browser


async def sign_in(page: Page, tenant: Tenant) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(tenant.admin.email)
    await page.get_by_label("Password").fill(tenant.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("header .who")).to_have_text(tenant.admin.email)


async def open_wizard(page: Page) -> None:
    """Customers → Onboarding templates → Create template."""
    await page.goto("/settings/tokens")
    await page.locator("nav.mainnav").get_by_role("link", name="Onboarding templates").click()
    await expect(page).to_have_url(re.compile(r"/customers/templates$"))
    await expect(page.locator(".crumbs")).to_contain_text("Customers")
    await page.get_by_role("link", name="Create template").click()
    await expect(page.get_by_role("heading", name="Choose the offer")).to_be_visible()


async def next_step(page: Page) -> None:
    await page.get_by_role("button", name="Next").click()


async def fill_core(page: Page, tenant: Tenant, name: str) -> None:
    await page.get_by_label("Template name").fill(name)
    await page.get_by_label("Service provider administrator").select_option(tenant.admin.email)
    await page.get_by_label("Country or region").select_option("IT")
    await page.get_by_label("Default email language").select_option("it_IT")
    await page.get_by_label("Wholesale subscription").fill("Sub-1234")


async def test_create_template_through_every_step(
    context: BrowserContext, live_server: LiveServer, live_db: Database
) -> None:
    tenant = await make_tenant(live_db, "Acme", pstn_providers=["PSTN Co", "Other Carrier"])
    page = await context.new_page()
    await sign_in(page, tenant)

    # The session cookie is Secure, HttpOnly and SameSite=Lax, and Chromium keeps it on
    # http://127.0.0.1 (a potentially trustworthy origin): signing in would fail otherwise.
    cookies = {c["name"]: c for c in await context.cookies()}
    session_cookie = cookies["partnerhub_session"]
    assert session_cookie["secure"] is True
    assert session_cookie["httpOnly"] is True
    assert session_cookie["sameSite"] == "Lax"
    assert await page.evaluate("document.cookie") == ""  # not readable by scripts

    await open_wizard(page)

    # Offer
    await expect(page.get_by_label("Wholesale")).to_be_checked()
    await next_step(page)

    # Core settings: a refusal keeps what was typed
    await expect(page.get_by_role("heading", name="Core settings")).to_be_visible()
    await fill_core(page, tenant, "SMB Italy")
    await page.get_by_label("Wholesale subscription").fill("")
    await next_step(page)
    await expect(page.locator("#wholesale_subscription_id-error")).to_have_text(
        "Wholesale subscription is required"
    )
    await expect(page.get_by_label("Template name")).to_have_value("SMB Italy")
    await expect(page.get_by_label("Country or region")).to_have_value("IT")
    await expect(page.get_by_label("Default email language")).to_have_value("it_IT")
    await page.get_by_label("Wholesale subscription").fill("Sub-1234")
    await next_step(page)

    # Wholesale calling: the not-recommended warning, then a PSTN provider
    await expect(page.get_by_role("heading", name="Wholesale calling")).to_be_visible()
    await expect(page.locator(".warning")).to_contain_text("not recommended")
    await page.get_by_label("Cloud-connected PSTN provider (optional)").select_option("PSTN Co")
    await next_step(page)

    # Authentication: partner SAML without an entity ID is refused, the choice is kept
    await expect(page.get_by_role("heading", name="Authentication")).to_be_visible()
    await expect(page.get_by_label("IdP entity ID")).to_be_hidden()
    await page.get_by_label("Partner authentication (SAML)").check()
    await expect(page.get_by_label("IdP entity ID")).to_be_visible()
    await next_step(page)
    await expect(page.locator("#idp_entity_id-error")).to_have_text(
        "IdP entity ID (from the IdP's SAML metadata) is required"
    )
    await expect(page.get_by_label("Partner authentication (SAML)")).to_be_checked()
    await expect(page.get_by_label("IdP entity ID")).to_be_visible()
    await page.get_by_label("IdP entity ID").fill("https://idp.acme.example/saml")
    await next_step(page)

    # Email and calling settings: no platform-calling toggle without the hosted-calling offer
    await expect(page.get_by_role("heading", name="Email and calling settings")).to_be_visible()
    await expect(page.get_by_label("Allow platform-to-platform calls (non-PSTN)")).to_have_count(0)
    await page.get_by_label("Brand name").fill("Acme Cloud")
    await page.get_by_label("Allow admin invitation emails when linking").check()
    await next_step(page)

    # Review: every section, an Edit link back to core settings, and back to review
    await expect(page.get_by_role("heading", name="Review")).to_be_visible()
    for section in ("offer", "core", "calling", "authentication", "email"):
        await expect(page.locator(f"#review-{section} a.edit-link")).to_be_visible()
    await expect(page.locator('dd[data-field="name"]')).to_have_text("SMB Italy")
    await expect(page.locator('dd[data-field="pstn_provider"]')).to_have_text("PSTN Co")
    await expect(page.locator('dd[data-field="idp_entity_id"]')).to_have_text(
        "https://idp.acme.example/saml"
    )
    await expect(page.locator('dd[data-field="brand_name"]')).to_have_text("Acme Cloud")
    await page.locator("#review-core a.edit-link").click()
    await expect(page.get_by_role("heading", name="Core settings")).to_be_visible()
    await expect(page.get_by_label("Template name")).to_have_value("SMB Italy")
    await page.get_by_label("Template name").fill("SMB Italia")
    await page.get_by_role("button", name="Save and return to review").click()
    await expect(page.get_by_role("heading", name="Review")).to_be_visible()
    await expect(page.locator('dd[data-field="name"]')).to_have_text("SMB Italia")
    await page.get_by_role("button", name="Submit").click()

    # The template page: its Provisioning ID and the copy button
    await expect(page.get_by_role("heading", name="SMB Italia", exact=True)).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("The template was saved.")
    provisioning_id = (await page.locator("#provisioning-id").inner_text()).strip()
    assert len(provisioning_id) == 22
    copy = page.get_by_role("button", name="Copy")
    await copy.click()
    await expect(page.locator("#copy-provisioning-id")).to_have_attribute("data-state", "copied")
    assert await page.evaluate("navigator.clipboard.readText()") == provisioning_id

    # The list shows it, and the API returns the same template with the same provisioningId
    await page.locator("nav.mainnav").get_by_role("link", name="Onboarding templates").click()
    row = page.locator("#templates tbody tr", has_text="SMB Italia")
    await expect(row).to_contain_text(provisioning_id)
    await expect(row).to_contain_text("Italy")
    token = await tenant.token("partnerhub:templates_read")
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        listed = await api.get("/v1/partner/templates", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(t["name"], t["provisioningId"]) for t in items] == [("SMB Italia", provisioning_id)]
    template = items[0]
    assert template["pstnProvider"] == "PSTN Co"
    assert template["authentication"] == {
        "method": "partner_saml",
        "idpEntityId": "https://idp.acme.example/saml",
        "oidcIdpName": None,
    }
    assert template["email"]["brandName"] == "Acme Cloud"
    assert template["email"]["allowAdminInviteOnLink"] is True
    assert template["email"]["allowPlatformCalling"] is False


async def test_platform_calling_toggle_needs_both_offers(
    context: BrowserContext, live_server: LiveServer, live_db: Database
) -> None:
    tenant = await make_tenant(live_db, "Initech", hosted_calling=True)
    page = await context.new_page()
    await sign_in(page, tenant)
    await open_wizard(page)
    await next_step(page)
    await fill_core(page, tenant, "Hosted calling")
    await next_step(page)
    await next_step(page)  # no PSTN provider
    await expect(page.get_by_label("Platform authentication")).to_be_checked()
    await next_step(page)
    toggle = page.get_by_label("Allow platform-to-platform calls (non-PSTN)")
    await expect(toggle).to_be_visible()
    await expect(toggle).not_to_be_checked()  # off by default
    await page.get_by_label("Brand name").fill("Initech Voice")
    await toggle.check()
    await next_step(page)
    await expect(page.locator("#review-email")).to_contain_text("Platform-to-platform calls")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_role("heading", name="Hosted calling", exact=True)).to_be_visible()
    token = await tenant.token("partnerhub:templates_read")
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        listed = await api.get("/v1/partner/templates", headers=bearer(token))
    assert listed.json()["items"][0]["email"]["allowPlatformCalling"] is True

    # A partner with the wholesale offer only never sees the toggle.
    await live_db_offers(live_db, tenant, hosted_calling=False)
    await page.goto("/customers/templates")
    await page.get_by_role("link", name="Create template").click()
    await next_step(page)
    await fill_core(page, tenant, "Wholesale only")
    await next_step(page)
    await next_step(page)
    await next_step(page)
    await expect(page.get_by_role("heading", name="Email and calling settings")).to_be_visible()
    await expect(page.get_by_label("Allow platform-to-platform calls (non-PSTN)")).to_have_count(0)


async def live_db_offers(db: Database, tenant: Tenant, *, hosted_calling: bool) -> None:
    from partnerhub.models import Partner

    async with db.transaction() as session:
        partner = await session.get(Partner, tenant.partner.id)
        assert partner is not None
        settings = dict(partner.settings or {})
        settings["offers"] = {"wholesale": True, "hostedCalling": hosted_calling}
        partner.settings = settings
