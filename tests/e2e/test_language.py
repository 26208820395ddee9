"""The portal in the reader's language, in a real browser against ``partnerhub serve``
(issue 12, items 1-2).

An Italian browser (context locale ``it-IT``, ``Accept-Language: it``; no language picked by
hand) signs in and stays in Italian; every form outside the template wizard refuses a bad
value with a sentence in Italian next to the field — never the API's English with a wire path
or a package id — and keeps what was typed. The same flows run once in English.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from partnerhub.catalog import packages
from partnerhub.db import Database
from partnerhub.portal.messages import WIRE_PATH
from tests.conftest import LiveServer
from tests.factories import Setup, Tenant, make_customer, make_tenant, number

pytestmark = pytest.mark.browser

# What each refusal must say, per language (the field's label first, as the form shows it).
SAYS = {
    "it": {
        "email": "Email amministratore: 'non-una-email' non è un indirizzo email valido",
        "external_id": "ID cliente esterno: un altro dei tuoi clienti ha già questo ID",
        "packages": "Pacchetti: Attendant Console richiede uno di questi pacchetti: "
        "Webex Calling, Webex Suite, Customer Assist",
        "limit": "Limite per Webex Meetings: '-3' non è un numero intero",
        "postal_code": "CAP: 'ABC' non è valido per il paese Italia",
        "numbers": "Numeri di telefono: '12345' non è un numero di telefono in formato "
        "internazionale (come +390212345678)",
        "admin_email": "Indirizzo email: appartiene già a un amministratore del partner",
        "row_email": "Indirizzo email: 'anna-senza-dominio' non è un indirizzo email valido",
        "lowered": "Pacchetto: il pacchetto di questo utente (Amministratore completo) non può "
        "passare da Webex Suite a Webex Meetings, di livello inferiore",
        "contact_email": "Email del contatto: 'maria@' non è un indirizzo email valido",
        "extension": "Interno (facoltativo): 'x1' non è un interno (da 2 a 10 cifre)",
        "nav": "Clienti",
    },
    "en": {
        "email": "Admin email: 'non-una-email' is not a valid email address",
        "external_id": "External customer ID: another of your customers already has this ID",
        "packages": "Packages: Attendant Console needs one of "
        "Webex Calling, Webex Suite, Customer Assist",
        "limit": "Limit for Webex Meetings: '-3' is not a whole number",
        "postal_code": "Postal code: 'ABC' is not valid for the country Italy",
        "numbers": "Phone numbers: '12345' is not a phone number in international format "
        "(like +390212345678)",
        "admin_email": "Email address: already belongs to a partner administrator",
        "row_email": "Email address: 'anna-senza-dominio' is not a valid email address",
        "lowered": "Package: the package of this user (Full administrator) cannot be lowered "
        "from Webex Suite to Webex Meetings",
        "contact_email": "Contact email: 'maria@' is not a valid email address",
        "extension": "Extension (optional): 'x1' is not an extension (2 to 10 digits)",
        "nav": "Customers",
    },
}
BROWSER = {
    "it": ("it-IT", "it-IT,it;q=0.9,en;q=0.5"),
    "en": ("en-US", "en-US,en;q=0.9"),
}
PACKAGE_ID = re.compile(r"\b(?:" + "|".join(map(re.escape, packages.PACKAGES)) + r")\b")


@pytest.fixture(params=["it", "en"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def reader(
    browser: Browser, live_server: LiveServer, lang: str
) -> AsyncIterator[BrowserContext]:
    """A browser in *lang*: its locale and Accept-Language, nothing chosen in the portal."""
    locale, accept = BROWSER[lang]
    ctx = await browser.new_context(
        base_url=live_server.url,
        locale=locale,
        extra_http_headers={"Accept-Language": accept},
        viewport={"width": 1280, "height": 900},
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


async def sign_in(page: Page, tenant: Tenant, lang: str) -> None:
    await page.goto("/login")
    await page.locator("#email").fill(tenant.admin.email)
    await page.locator("#password").fill(tenant.password)
    await page.locator("form button[type=submit]").click()
    await expect(page.locator("header .who")).to_have_text(tenant.admin.email)
    await expect(page.locator("html")).to_have_attribute("lang", lang)


async def says(page: Page, error_id: str, text: str) -> None:
    """The message next to the field is *text*, and the page shows no wire path or id."""
    await expect(page.locator(f"#{error_id}")).to_have_text(text)
    shown = await page.locator("main").inner_text()
    assert not WIRE_PATH.findall(shown), WIRE_PATH.findall(shown)
    assert not PACKAGE_ID.findall(shown), PACKAGE_ID.findall(shown)


async def world(db: Database) -> tuple[Tenant, Setup]:
    tenant = await make_tenant(db, "Acme")
    setup = await make_customer(
        db,
        tenant,
        external_id="crm-77",
        numbers=[number(i) for i in range(1, 4)],
        admin_package="webex_suite",
    )
    return tenant, setup


async def test_sign_in_stays_in_the_browsers_language(
    reader: BrowserContext, live_db: Database, lang: str
) -> None:
    tenant, _setup = await world(live_db)
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    for path in ("/customers", "/settings/administrators", "/customers/templates"):
        await page.goto(path)
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        await expect(page.locator("nav.mainnav")).to_contain_text(SAYS[lang]["nav"])


async def test_the_language_picked_wins_and_is_remembered(
    reader: BrowserContext, live_db: Database, lang: str
) -> None:
    tenant, _setup = await world(live_db)
    other = "en" if lang == "it" else "it"
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.locator("header select[name=lang]").select_option(other)  # auto-submits
    await expect(page.locator("html")).to_have_attribute("lang", other)
    await page.locator("header form[action='/logout'] button").click()
    await expect(page).to_have_url(re.compile(r"/login"))
    await sign_in(page, tenant, other)  # the browser still asks for *lang*; the pick wins


async def test_create_customer_refusals(
    reader: BrowserContext, live_db: Database, lang: str
) -> None:
    tenant, _setup = await world(live_db)
    says_ = SAYS[lang]
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.goto("/customers/new")
    await page.locator("#name").fill("Pizzeria Roma")
    await page.locator("#email").fill("non-una-email")
    await page.locator("#external_id").fill("crm-78")
    await page.locator("#country").select_option("IT")
    await page.locator("#template").select_option(index=1)
    await page.locator("#supported").check()
    await page.locator("form button.primary").click()
    await says(page, "email-error", says_["email"])
    await expect(page.locator("#name")).to_have_value("Pizzeria Roma")
    await expect(page.locator("#email")).to_have_value("non-una-email")
    await expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    # another customer's external ID (checked once the email is valid)
    await page.locator("#email").fill("owner@pizzeria.example")
    await page.locator("#external_id").fill("crm-77")
    await page.locator("form button.primary").click()
    await says(page, "external_id-error", says_["external_id"])
    await expect(page.locator("#external_id")).to_have_value("crm-77")
    await page.locator("#external_id").fill("crm-78")
    await page.locator("form button.primary").click()
    # packages: an add-on without its base package, and a negative limit
    await page.locator("input[name=packages][value=webex_meetings]").check()
    await page.locator("input[name=packages][value=attendant_console]").check()
    await page.locator("#limit_webex_meetings").fill("-3")
    await page.locator("form button.primary").click()
    await says(page, "packages-error", says_["packages"])
    await says(page, "limit_webex_meetings-error", says_["limit"])
    await expect(page.locator("#limit_webex_meetings")).to_have_value("-3")
    await page.locator("input[name=packages][value=webex_calling]").check()
    await page.locator("#limit_webex_meetings").fill("5")
    await page.locator("form button.primary").click()

    # headquarters: a postal code that is not Italian, a number that is not E.164
    await page.locator("#address_line1").fill("Via Roma 1")
    await page.locator("#city").fill("Milano")
    await page.locator("#state").fill("MI")
    await page.locator("#postal_code").fill("ABC")
    await page.locator("#timezone").select_option("Europe/Rome")
    await page.locator("#language").select_option("it_IT")
    await page.locator("#numbers").fill("12345")
    await page.locator("form button.primary").click()
    await says(page, "postal_code-error", says_["postal_code"])
    await says(page, "numbers-error", says_["numbers"])
    await expect(page.locator("#city")).to_have_value("Milano")
    await expect(page.locator("#numbers")).to_have_value("12345")


async def test_administrator_refusals(reader: BrowserContext, live_db: Database, lang: str) -> None:
    tenant, _setup = await world(live_db)
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.goto("/settings/administrators")
    # the browser checks the address's form itself; the server refuses one already taken
    await page.locator("#admin-email").fill(tenant.admin.email)
    await page.locator("#admin-name").fill("Giulia")
    await page.locator("#admin-password").fill("long-enough-password")
    await page.locator("form[action='/settings/administrators'] button.primary").click()
    await says(page, "email-error", SAYS[lang]["admin_email"])
    await expect(page.locator("#admin-name")).to_have_value("Giulia")
    await expect(page.locator("#admin-email")).to_have_value(tenant.admin.email)


async def test_add_users_assign_numbers_and_change_package_refusals(
    reader: BrowserContext, live_db: Database, lang: str
) -> None:
    tenant, setup = await world(live_db)
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    # Add users: a row with a bad email address
    await page.goto(f"/org/{setup.id}/users/add-wholesale")
    await page.locator("input[name='first_name-0']").fill("Anna")
    await page.locator("input[name='email-0']").fill("anna-senza-dominio")
    await page.locator("select[name='package-0']").select_option("webex_calling")
    await page.locator("button[value=next], form button.primary").first.click()
    await says(page, "row-0-email-error", SAYS[lang]["row_email"])
    await expect(page.locator("input[name='first_name-0']")).to_have_value("Anna")
    # Assign numbers: an extension that is not one
    await page.locator("input[name='email-0']").fill("anna@cliente.example")
    await page.locator("button[value=next], form button.primary").first.click()
    await page.locator("input[name='extension-0']").fill("x1")
    await page.locator("button[value=assign]").click()
    await says(page, "row-0-extension-error", SAYS[lang]["extension"])
    await expect(page.locator("input[name='extension-0']")).to_have_value("x1")
    # Change package: a full administrator's package cannot be lowered
    await page.goto(f"/org/{setup.id}/users")
    await page.locator("a[href$='/package']").first.click()
    await page.locator("#package").select_option("webex_meetings")
    await page.locator("form button.primary").click()
    await says(page, "package-error", SAYS[lang]["lowered"])
    await expect(page.locator("#package")).to_have_value("webex_meetings")


async def test_installation_assistance_refusal(
    reader: BrowserContext, live_db: Database, lang: str
) -> None:
    tenant, setup = await world(live_db)
    page = await reader.new_page()
    await sign_in(page, tenant, lang)
    await page.goto(f"/customers/{setup.id}/setup")
    await page.locator("#assistance summary").click()
    await page.locator("#contact_name").fill("Maria Rossi")
    await page.locator("#contact_email").fill("maria@")
    await page.locator("#assistance-form button[type=submit]").click()
    await says(page, "contact_email-error", SAYS[lang]["contact_email"])
    await expect(page.locator("#contact_name")).to_have_value("Maria Rossi")
