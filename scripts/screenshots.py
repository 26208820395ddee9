"""Screenshots of the portal's main pages, in English and Italian, into ``docs/images``.

Self-contained: starts ``partnerhub serve`` on a throw-away data directory (its embedded
PostgreSQL, the simulated backend), creates a demo customer through the API (template,
customer, a second location with numbers), then signs in with Chromium (``/usr/bin/chromium``
through Playwright; nothing is downloaded) and saves one PNG per page and language:
``docs/images/portal-<page>-<lang>.png`` (shown in docs/portal.md).

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--width 1280 --height 800]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EMAIL = "admin@partnerhub.local"
PASSWORD = secrets.token_urlsafe(16)  # a throw-away installation
SCOPES = ",".join(
    (
        "spark-admin:wholesale_customers_write",
        "spark-admin:wholesale_subscribers_write",
        "partnerhub:templates_write",
        "partnerhub:locations_write",
        "partnerhub:numbers_write",
    )
)
ADDRESS = {
    "addressLine1": "Via Roma 1",
    "city": "Milano",
    "stateOrProvince": "MI",
    "zipOrPostalCode": "20121",
    "country": "IT",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "partnerhub", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout


def start(env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "partnerhub", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not become ready:\n" + log.read_text())


def demo_data(url: str, token: str) -> dict[str, str]:
    """A provisioned Italian customer with two locations; its ids."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60, headers=auth) as api:
        template = api.post(
            "/v1/partner/templates",
            json={
                "name": "SMB Italia",
                "offer": "wholesale",
                "serviceProviderAdminEmail": EMAIL,
                "country": "IT",
                "defaultEmailLanguage": "it_IT",
                "wholesaleSubscriptionId": "WS-2026-0042",
                "authentication": {"method": "platform"},
                "email": {"brandName": "Demo Cloud Voice", "allowAdminInviteOnLink": False},
            },
        )
        template.raise_for_status()
        created = api.post(
            "/v1/wholesale/customers",
            json={
                "provisioningId": template.json()["provisioningId"],
                "packages": ["webex_calling", "webex_meetings"],
                "externalId": "crm-pizzeria-roma-0001",
                "address": ADDRESS,
                "customerInfo": {
                    "name": "Pizzeria Roma S.r.l.",
                    "primaryEmail": "titolare@pizzeria.example",
                },
                "provisioningParameters": {
                    "calling": {
                        "location": {
                            "name": "Sede di Milano",
                            "address": ADDRESS,
                            "timezone": "Europe/Rome",
                            "language": "it_IT",
                            "numbers": ["+390212345601", "+390212345602", "+390212345603"],
                        }
                    }
                },
            },
        )
        created.raise_for_status()
        location = created.headers["Location"]
        body: dict[str, Any] = {}
        for _ in range(300):
            body = api.get(location).json()
            if body.get("status") == "provisioned":
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"the demo customer was not provisioned: {body}")
        branch = api.post(
            "/v1/locations",
            json={
                "orgId": body["orgId"],
                "name": "Filiale di Roma",
                "timeZone": "Europe/Rome",
                "preferredLanguage": "it_IT",
                "address": {
                    "address1": "Via del Corso 10",
                    "city": "Roma",
                    "state": "RM",
                    "postalCode": "00186",
                    "country": "IT",
                },
            },
        )
        branch.raise_for_status()
        api.post(
            f"/v1/telephony/config/locations/{branch.json()['id']}/numbers",
            json={"phoneNumbers": ["+390612345601", "+390612345602"]},
        ).raise_for_status()
    return {"customer": location.rsplit("/", 1)[1], "branch": branch.json()["id"]}


async def sign_in(page: Page, lang: str) -> None:
    await page.goto("/login")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit].primary")
    await page.wait_for_selector("header .who")
    if await page.locator("#lang-select").input_value() != lang:
        async with page.expect_navigation():
            await page.select_option("#lang-select", lang)


async def shoot(url: str, ids: dict[str, str], out: Path, size: tuple[int, int]) -> list[Path]:
    cid, branch = ids["customer"], ids["branch"]
    pages = {
        "customers": "/customers",
        "customer": f"/customers/{cid}",
        "setup": f"/customers/{cid}/setup",
        "location-new": f"/customers/{cid}/locations/new",
        "location-edit": f"/customers/{cid}/locations/{branch}/edit",
        "location-delete": f"/customers/{cid}/locations/{branch}/delete",
        "administrators": f"/org/{cid}/administrators",
        "tokens": "/settings/tokens",
    }
    saved: list[Path] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        for lang in ("en", "it"):
            context = await browser.new_context(
                base_url=url,
                viewport={"width": size[0], "height": size[1]},
                locale="en-US" if lang == "en" else "it-IT",
            )
            page = await context.new_page()
            page.set_default_timeout(30_000)
            await sign_in(page, lang)
            for name, path in pages.items():
                await page.goto(path)
                target = out / f"portal-{name}-{lang}.png"
                await page.screenshot(path=str(target), full_page=True)
                saved.append(target)
            # Assign numbers: two calling users, the first one's number not offered twice
            await page.goto(f"/org/{cid}/users/add-wholesale")
            await page.fill("input[name=email-0]", "marco@pizzeria.example")
            await page.select_option("select[name=package-0]", "webex_calling")
            await page.click("button[name=action][value=more]")
            await page.fill("input[name=email-1]", "anna@pizzeria.example")
            await page.select_option("select[name=package-1]", "webex_calling")
            await page.click("button[name=action][value=next]")
            await page.select_option("#phone_number-0", "+390212345601")
            target = out / f"portal-assign-numbers-{lang}.png"
            await page.screenshot(path=str(target), full_page=True)
            saved.append(target)
            await context.close()
        await browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="partnerhub-shots-") as tmp:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PARTNERHUB_")  # a throw-away installation, not yours
        }
        env.update(
            PARTNERHUB_DATA_DIR=str(Path(tmp) / "data"),
            PARTNERHUB_PORT=str(port),
            PARTNERHUB_ADMIN_EMAIL=EMAIL,
            PARTNERHUB_ADMIN_PASSWORD=PASSWORD,
            PARTNERHUB_PARTNER_NAME="Demo Partner",
        )
        server = start(env, url, Path(tmp) / "serve.log")
        try:
            token = cli(env, "token", "create", "--scope", SCOPES, "--name", "screenshots")
            ids = demo_data(url, token.strip().splitlines()[-1])
            saved = asyncio.run(shoot(url, ids, args.out, (args.width, args.height)))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    for path in saved:
        print(f"saved {path}")


if __name__ == "__main__":
    main()
