"""The audit log in a real browser (issue 13 item 6): a partner administrator changes a
template, opens Audit log, switches to Italian and filters by category; the row says who
changed what, with the before and after values."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from partnerhub.db import Database
from tests.conftest import LiveServer
from tests.e2e.test_template_wizard import sign_in
from tests.factories import bearer, create_template, make_tenant

pytestmark = pytest.mark.browser


async def test_audit_log_page_in_italian_with_a_filter(
    context: BrowserContext, live_server: LiveServer, live_db: Database
) -> None:
    tenant = await make_tenant(live_db, "Acme")
    token = await tenant.token("partnerhub:templates_write")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        template = await create_template(api, tenant, name="Gold")
        body = {
            "name": "Gold renamed",
            "offer": "wholesale",
            "serviceProviderAdminEmail": tenant.admin.email,
            "country": "IT",
            "defaultEmailLanguage": "it_IT",
            "wholesaleSubscriptionId": "Sub-1234",
            "authentication": {"method": "platform"},
            "email": {"brandName": "Acme Cloud", "allowAdminInviteOnLink": False},
        }
        changed = await api.put(
            f"/v1/partner/templates/{template['id']}", json=body, headers=bearer(token)
        )
        assert changed.status_code == 200, changed.text

    page = await context.new_page()
    await sign_in(page, tenant)
    await page.locator("nav.mainnav").get_by_role("link", name="Audit log").click()
    await expect(page).to_have_url(re.compile(r"/audit$"))
    await expect(page.locator("#history")).to_contain_text("Template changed")
    await page.locator("#lang-select").select_option("it")
    await expect(page.locator("h1")).to_have_text("Registro attività")
    rows = page.locator("#history .history-row")
    await expect(rows.filter(has_text="Modello modificato")).to_have_count(1)
    await expect(rows.filter(has_text="Accesso eseguito")).to_have_count(1)
    changed_row = rows.filter(has_text="Modello modificato")
    await expect(changed_row).to_contain_text("Gold → Gold renamed")
    await expect(changed_row).to_contain_text("ha modificato il modello Gold renamed")
    await page.get_by_label("Categoria").select_option(label="Accessi")
    await page.get_by_role("button", name="Filtra").click()
    await expect(page).to_have_url(re.compile(r"/audit\?category=LOGINS"))
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"{tenant.admin.display_name} ha eseguito l'accesso")
