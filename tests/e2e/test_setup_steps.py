"""Set-up steps in a real browser, in Italian (``it-IT``) and once more in English
(``en-US``), against ``partnerhub serve``.

Locations created, edited and deleted from "Set up customer" (the same service as
``/v1/locations``: the API sees every change); the last full administrator's role cannot be
taken away in the customer's administrators page (the checkbox says why); assign numbers never
offers one number twice. One browser and one server serve the whole module.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from partnerhub.db import Database
from tests.conftest import LiveServer, bearer
from tests.customers.helpers import BASE, WRITE
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_setup_users import italian_customer, provisioned
from tests.factories import Tenant, create_template, make_tenant

pytestmark = pytest.mark.browser
LOCATIONS_WRITE = "partnerhub:locations_write"
NUMBERS_WRITE = "partnerhub:numbers_write"
SUBSCRIBERS_WRITE = "spark-admin:wholesale_subscribers_write"
BRANCH_NUMBERS = ["+390612345671", "+390612345672"]
BROWSER = {
    "it": ("it-IT", "it-IT,it;q=0.9,en;q=0.5"),
    "en": ("en-US", "en-US,en;q=0.9"),
}
# What the pages say, in each language (the seed's words in Italian: "sede").
SAYS: dict[str, dict[str, str]] = {
    "it": {
        "setup": "Imposta cliente",
        "edit": "Modifica",
        "delete": "Elimina",
        "add_location": "Aggiungi sede",
        "added": "Sede aggiunta",
        "edit_location": "Modifica sede",
        "saved": "Sede salvata",
        "delete_location": "Elimina sede",
        "main_number": "numero principale",
        "deleted": "Sede eliminata",
        "only_full_admin": "unico amministratore completo",
        "full_admin": "Amministratore completo",
        "chosen_twice": "+390212345603 è già scelto per uno@pizzeria.example in questo modulo",
        "assigned": "già assegnato",
        "provisioned": "Provisioning completato",
    },
    "en": {
        "setup": "Set up customer",
        "edit": "Edit",
        "delete": "Delete",
        "add_location": "Add location",
        "added": "Location added",
        "edit_location": "Edit location",
        "saved": "Location saved",
        "delete_location": "Delete location",
        "main_number": "main number",
        "deleted": "Location deleted",
        "only_full_admin": "is the only full administrator",
        "full_admin": "Full administrator",
        "chosen_twice": "+390212345603 is already chosen for uno@pizzeria.example in this form",
        "assigned": "already assigned",
        "provisioned": "Provisioned",
    },
}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the module (each test still gets its own context: no shared state)."""
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(params=["it", "en"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def reader_page(
    browser: Browser, live_server: LiveServer, lang: str, width: int = 1280, height: int = 800
) -> BrowserContext:
    """A browser context in *lang* (its locale and Accept-Language)."""
    locale, accept = BROWSER[lang]
    ctx = await browser.new_context(
        base_url=live_server.url,
        locale=locale,
        extra_http_headers={"Accept-Language": accept},
        viewport={"width": width, "height": height},
    )
    ctx.set_default_timeout(15_000)
    return ctx


@pytest.fixture
async def reader(
    browser: Browser, live_server: LiveServer, lang: str
) -> AsyncIterator[BrowserContext]:
    ctx = await reader_page(browser, live_server, lang)
    try:
        yield ctx
    finally:
        await ctx.close()


async def sign_in(page: Page, tenant: Tenant, lang: str) -> None:
    """Sign in (fields found by id: the labels are translated); the portal follows the
    browser's language, and the administrator's own choice would win: choose *lang*."""
    await page.goto("/login")
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await page.locator("#email").fill(tenant.admin.email)
    await page.locator("#password").fill(tenant.password)
    await page.locator("form button[type=submit]").click()
    await expect(page.locator("header .who")).to_have_text(tenant.admin.email)
    if await page.locator("#lang-select").input_value() != lang:
        async with page.expect_navigation():
            await page.locator("#lang-select").select_option(lang)
    await expect(page.locator("html")).to_have_attribute("lang", lang)


async def provisioned_customer(
    live_server: LiveServer, tenant: Tenant, *scopes: str
) -> tuple[str, dict[str, Any], str]:
    """An Italian customer, provisioned: (its id, its body, a token with *scopes*)."""
    token = await tenant.token(WRITE, "partnerhub:templates_write", *scopes)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        template = await create_template(api, tenant)
        created = await api.post(
            BASE, json=italian_customer(template["provisioningId"]), headers=bearer(token)
        )
        assert created.status_code == 202, created.text
        customer = await provisioned(api, created.headers["Location"], token)
    return created.headers["Location"].rsplit("/", 1)[1], customer, token


async def api_locations(live_server: LiveServer, token: str, org: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        listed = await api.get("/v1/locations", params={"orgId": org}, headers=bearer(token))
    assert listed.status_code == 200, listed.text
    return {loc["name"]: loc for loc in listed.json()["items"]}


async def test_create_edit_and_delete_a_location(
    reader: BrowserContext, live_server: LiveServer, live_db: Database, lang: str
) -> None:
    says = SAYS[lang]
    tenant = await make_tenant(live_db, "Acme")
    cid, customer, token = await provisioned_customer(
        live_server, tenant, LOCATIONS_WRITE, NUMBERS_WRITE
    )
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.goto(f"/customers/{cid}/setup")
    await expect(page.locator("h1")).to_have_text(says["setup"])
    hq = page.locator('#setup-locations tr[data-location="Sede di Milano"]')
    await expect(hq.get_by_role("link", name=re.compile("^" + says["edit"]))).to_be_visible()
    # the headquarters cannot be deleted: no link
    await expect(hq.get_by_role("link", name=re.compile("^" + says["delete"]))).to_have_count(0)

    # Add: the country's provinces and time zones are offered; a missing city is refused
    await page.locator("#setup-add-location").click()
    await expect(page.locator("h1")).to_have_text(says["add_location"])
    await expect(page.locator("#country")).to_have_value("IT")
    await page.locator("#name").fill("Filiale di Roma")
    await page.locator("#address1").fill("Via del Corso 10")
    await page.locator("#state").select_option("IT-RM")
    await page.locator("#postal_code").fill("00186")
    await page.locator("#time_zone").select_option("Europe/Rome")
    await page.locator("#preferred_language").select_option("it_IT")
    await page.locator("#location-form button[type=submit]").click()
    await expect(page.locator("#city-error")).to_be_visible()
    await expect(page.locator("#name")).to_have_value("Filiale di Roma")  # kept as typed
    assert "Filiale di Roma" not in await api_locations(live_server, token, customer["orgId"])
    await page.locator("#city").fill("Roma")
    await page.locator("#location-form button[type=submit]").click()
    await expect(page.locator("#setup-notice")).to_have_text(says["added"])
    branch_row = page.locator('#setup-locations tr[data-location="Filiale di Roma"]')
    await expect(branch_row).to_contain_text("Europe/Rome")
    branch = (await api_locations(live_server, token, customer["orgId"]))["Filiale di Roma"]
    assert branch["address"]["state"] == "IT-RM"
    assert branch["preferredLanguage"] == "it_IT"
    assert branch["headquarters"] is False

    # Numbers for the branch (the inventory), then edit: rename and choose the main number
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        added = await api.post(
            f"/v1/telephony/config/locations/{branch['id']}/numbers",
            json={"phoneNumbers": BRANCH_NUMBERS},
            headers=bearer(token),
        )
        assert added.status_code == 201, added.text
    await page.reload()
    await branch_row.get_by_role("link", name=re.compile("^" + says["edit"])).click()
    await expect(page.locator("h1")).to_have_text(says["edit_location"])
    await expect(page.locator("#city")).to_have_value("Roma")
    await page.locator("#name").fill("Filiale di Roma Centro")
    await page.locator("#main_number").select_option(BRANCH_NUMBERS[1])
    await page.locator("#location-form button[type=submit]").click()
    await expect(page.locator("#setup-notice")).to_have_text(says["saved"])
    renamed = page.locator('#setup-locations tr[data-location="Filiale di Roma Centro"]')
    await expect(renamed).to_be_visible()
    found = await api_locations(live_server, token, customer["orgId"])
    assert "Filiale di Roma" not in found
    assert found["Filiale di Roma Centro"]["mainNumber"] == BRANCH_NUMBERS[1]

    # A name taken by another location of the customer is refused, by field
    await renamed.get_by_role("link", name=re.compile("^" + says["edit"])).click()
    await page.locator("#name").fill("sede di milano")
    await page.locator("#location-form button[type=submit]").click()
    await expect(page.locator("#name-error")).to_be_visible()
    await page.goto(f"/customers/{cid}/setup")

    # Delete: the confirmation says what is lost (the numbers, the main one marked)
    await renamed.get_by_role("link", name=re.compile("^" + says["delete"])).click()
    await expect(page.locator("h1")).to_have_text(says["delete_location"])
    lost = page.locator("#location-delete-numbers")
    await expect(lost).to_contain_text(BRANCH_NUMBERS[0])
    await expect(lost).to_contain_text(f"{BRANCH_NUMBERS[1]} ({says['main_number']})")
    await page.locator("#location-delete button.danger").click()
    await expect(page.locator("#setup-notice")).to_have_text(says["deleted"])
    await expect(renamed).to_have_count(0)
    assert set(await api_locations(live_server, token, customer["orgId"])) == {"Sede di Milano"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        gone = await api.get(f"/v1/locations/{branch['id']}", headers=bearer(token))
        assert gone.status_code == 404
        numbers = await api.get(
            "/v1/telephony/config/numbers",
            params={"orgId": customer["orgId"]},
            headers=bearer(token),
        )
    held = {n["phoneNumber"] for n in numbers.json()["phoneNumbers"]}
    assert not held & set(BRANCH_NUMBERS)


async def test_last_full_administrator_checkbox(
    reader: BrowserContext, live_server: LiveServer, live_db: Database, lang: str
) -> None:
    says = SAYS[lang]
    tenant = await make_tenant(live_db, "Acme")
    cid, _customer, token = await provisioned_customer(live_server, tenant, SUBSCRIBERS_WRITE)
    owner = "owner@pizzeria.example"  # the customer's primary email: its first full admin
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.goto(f"/org/{cid}/administrators")
    row = page.locator(f'#org-roles tr[data-email="{owner}"]')
    box = row.locator(".locked-role input[type=checkbox]")
    await expect(box).to_be_disabled()
    await expect(box).to_be_checked()
    await expect(page.locator("#last-full-admin")).to_contain_text(owner)
    await expect(page.locator("#last-full-admin")).to_contain_text(says["only_full_admin"])
    # Saving the row keeps the role (the disabled box still sends it)
    await row.locator("button[type=submit]").click()
    await expect(page.locator("#org-error")).to_have_count(0)
    await expect(page.locator(f'#org-admins tr[data-email="{owner}"]')).to_contain_text(
        says["full_admin"]
    )

    # A second full administrator: the first one's checkbox is free again
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as api:
        added = await api.post(
            "/v1/wholesale/subscribers",
            json={
                "customerId": cid,
                "email": "vice@pizzeria.example",
                "packages": ["webex_calling"],  # administrators keep the creation tier
                "provisioningParameters": {"extension": "2001"},
            },
            headers=bearer(token),
        )
        assert added.status_code == 200, added.text
    await page.reload()
    vice = page.locator('#org-roles tr[data-email="vice@pizzeria.example"]')
    await vice.get_by_role("checkbox", name=re.compile("^" + says["full_admin"])).check()
    await vice.locator("button[type=submit]").click()
    await expect(page.locator("#last-full-admin")).to_have_count(0)
    owner_box = row.get_by_role("checkbox", name=re.compile("^" + says["full_admin"]))
    await expect(owner_box).to_be_enabled()
    # and now the vice is the last one if the owner steps down
    await owner_box.uncheck()
    await row.locator("button[type=submit]").click()
    await expect(page.locator("#last-full-admin")).to_contain_text("vice@pizzeria.example")


async def test_assign_numbers_never_offers_one_number_twice(
    reader: BrowserContext, live_server: LiveServer, live_db: Database, lang: str
) -> None:
    """Two calling users: the number chosen in one row is not offered in the other; a form
    that sends it twice anyway (the page without its script) is refused with the real cause."""
    tenant = await make_tenant(live_db, "Acme")
    cid, _customer, _token = await provisioned_customer(
        live_server, tenant, SUBSCRIBERS_WRITE, NUMBERS_WRITE
    )
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.goto(f"/org/{cid}/users/add-wholesale")
    await page.locator("input[name=email-0]").fill("uno@pizzeria.example")
    await page.locator("select[name=package-0]").select_option("webex_calling")
    await page.locator("button[name=action][value=more]").click()
    await page.locator("input[name=email-1]").fill("due@pizzeria.example")
    await page.locator("select[name=package-1]").select_option("webex_calling")
    await page.locator("button[name=action][value=next]").click()
    first, second = page.locator("#phone_number-0"), page.locator("#phone_number-1")
    await expect(first).to_be_visible()
    await first.select_option("+390212345601")
    taken = second.locator('option[value="+390212345601"]')
    await expect(taken).to_be_disabled()
    await expect(first.locator('option[value="+390212345601"]')).to_be_enabled()
    await second.select_option("+390212345602")
    await expect(first.locator('option[value="+390212345602"]')).to_be_disabled()
    # Changing the first choice frees the number again
    await first.select_option("+390212345603")
    await expect(second.locator('option[value="+390212345601"]')).to_be_enabled()

    # Sent twice anyway (as without the script): the second row names the real cause
    await second.evaluate(
        "s => { s.querySelectorAll('option').forEach(o => o.disabled = false);"
        " s.value = '+390212345603'; }"
    )
    await page.locator("button[name=action][value=assign]").click()
    error = page.locator("#assign-rows")
    await expect(error).to_contain_text(SAYS[lang]["chosen_twice"])
    await expect(error).not_to_contain_text(SAYS[lang]["assigned"])
    await page.goto(f"/org/{cid}/users")
    await expect(page.locator("#org-users")).not_to_contain_text("uno@pizzeria.example")


VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
# What must never be cut or overflow, on each page (a selector each).
LAYOUT_CHECKS = {
    "setup": ["main", "#setup-locations", "#setup-customer", ".crumbs"],
    "customer": ["main", ".card", "dl", "dd"],
    "assign": ["main", "#assign-rows select", "#assign-rows"],
    "location": ["main", "#location-form", "#location-form select"],
}
# Every selector must match (a check of nothing proves nothing), and no match may overflow.
OVERFLOWING = """
selectors => selectors.flatMap(sel => {
    const found = Array.from(document.querySelectorAll(sel));
    if (!found.length) { return [{sel, missing: true}]; }
    return found.map(el => ({
        sel, id: el.id || el.tagName, scroll: el.scrollWidth, client: el.clientWidth
    })).filter(e => e.scroll > e.client + 1);
})
"""


async def test_layout_fits_desktop_and_phone(
    browser: Browser, live_server: LiveServer, live_db: Database
) -> None:
    """At 1280×800 and 390×844 no named element is wider inside than its box (nothing cut
    or scrolling sideways): the set-up page, the customer page with its long ids, the
    assign-numbers table with its selects, the location form."""
    tenant = await make_tenant(live_db, "Acme")
    cid, _customer, _token = await provisioned_customer(
        live_server, tenant, SUBSCRIBERS_WRITE, NUMBERS_WRITE, LOCATIONS_WRITE
    )
    for name, (width, height) in VIEWPORTS.items():
        # Italian: the longer words are the harder fit
        ctx = await reader_page(browser, live_server, "it", width, height)
        try:
            page = await ctx.new_page()
            await sign_in(page, tenant, "it")
            pages = {
                "setup": f"/customers/{cid}/setup",
                "customer": f"/customers/{cid}",
                "location": f"/customers/{cid}/locations/new",
            }
            # provisioning finished: the "being created" banner is gone, even on the address
            # the creation redirected to
            await page.goto(f"/customers/{cid}?created=1")
            await expect(page.locator("#customer-status")).to_have_text(SAYS["it"]["provisioned"])
            await expect(page.locator("#creating-banner")).to_have_count(0)
            for key, url in pages.items():
                await page.goto(url)
                bad = await page.evaluate(OVERFLOWING, LAYOUT_CHECKS[key])
                assert bad == [], (name, key, bad)
            await page.goto(f"/org/{cid}/users/add-wholesale")
            await page.locator("input[name=email-0]").fill("layout@pizzeria.example")
            await page.locator("select[name=package-0]").select_option("webex_calling")
            await page.locator("button[name=action][value=next]").click()
            await expect(page.locator("#assign-rows")).to_be_visible()
            bad = await page.evaluate(OVERFLOWING, LAYOUT_CHECKS["assign"])
            assert bad == [], (name, "assign", bad)
            # nothing makes the whole page scroll sideways either
            wide = await page.evaluate(
                "() => document.documentElement.scrollWidth > window.innerWidth"
            )
            culprits = await page.evaluate(
                "() => Array.from(document.querySelectorAll('body *')).filter("
                "e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8)"
                ".map(e => e.tagName + '#' + e.id + '.' + e.className + ' '"
                " + Math.round(e.getBoundingClientRect().right))"
            )
            assert not wide, (name, "assign page scrolls sideways", culprits)
        finally:
            await ctx.close()
