"""Screenshot of the onboarding-template wizard (review step) for the README.

Starts nothing: point it at a running PartnerHub and an administrator who may create templates.

    .venv/bin/python scripts/screenshot.py --url http://127.0.0.1:8199 \\
        --email admin@partnerhub.local --password '...' [--out docs/images/template-wizard.png]

It signs in, walks the wizard up to review (without submitting) and saves a PNG, using
Playwright with the system Chromium (``/usr/bin/chromium``; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def shoot(
    url: str, email: str, password: str, out: Path, chromium: str, name: str, lang: str
) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            base_url=url.rstrip("/"),
            viewport={"width": 1200, "height": 900},
            device_scale_factor=1,
            locale="en-US" if lang == "en" else "it-IT",
        )
        page = await context.new_page()
        page.set_default_timeout(15_000)
        await page.goto("/login")
        await page.fill("#email", email)
        await page.fill("#password", password)
        await page.click("button[type=submit].primary")
        await page.wait_for_selector("header .who")
        if await page.locator("#lang-select").input_value() != lang:
            async with page.expect_navigation():
                await page.select_option("#lang-select", lang)
        await page.goto("/customers/templates/new")
        await page.click("button[type=submit].primary")  # offer: Wholesale

        await page.fill("#name", name)
        admins = page.locator("#service_provider_admin_email option")
        await page.select_option(
            "#service_provider_admin_email", await admins.nth(1).get_attribute("value")
        )
        await page.select_option("#country", "IT")
        await page.select_option("#default_email_language", "it_IT")
        await page.fill("#wholesale_subscription_id", "WS-2024-0042")
        await page.click("button[type=submit].primary")

        providers = page.locator("#pstn_provider option")
        if await providers.count() > 1:
            await page.select_option(
                "#pstn_provider", await providers.nth(1).get_attribute("value")
            )
        await page.click("button[type=submit].primary")

        await page.check("input[name=auth_method][value=partner_saml]")
        await page.fill("#idp_entity_id", "https://idp.example.com/saml/metadata")
        await page.click("button[type=submit].primary")

        await page.fill("#brand_name", "Example Cloud Voice")
        await page.check("#allow_admin_invite_on_link")
        await page.click("button[type=submit].primary")

        await page.wait_for_selector("#review-email")
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out), full_page=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="PartnerHub base URL")
    parser.add_argument("--email", required=True, help="administrator email")
    parser.add_argument("--password", required=True, help="administrator password")
    parser.add_argument("--out", type=Path, default=Path("docs/images/template-wizard.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--name", default="SMB Italy", help="template name shown")
    parser.add_argument("--lang", choices=("en", "it"), default="en")
    args = parser.parse_args()
    asyncio.run(
        shoot(args.url, args.email, args.password, args.out, args.chromium, args.name, args.lang)
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
