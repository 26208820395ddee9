"""In a real browser (Playwright, Debian's Chromium), against ``partnerhub serve`` with its worker
and a real SMTP server: the partner provisions a customer through the API; its first
administrator receives the invitation email, sets a password through the link, signs in,
adds a user to the organization, and cannot reach another organization's pages (404)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import Browser, BrowserContext, expect

from partnerhub import ids
from partnerhub.db import Database
from tests.conftest import bearer, free_port
from tests.customers.helpers import BASE, WRITE
from tests.e2e.conftest import browser  # noqa: F401 - the shared Chromium fixture
from tests.factories import create_template, make_org, make_tenant, meetings_body
from tests.notifications.conftest import Mailbox

pytestmark = pytest.mark.browser
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/account/set-password/[A-Za-z0-9_\-.]+)")


@dataclass
class MailServer:
    url: str
    process: subprocess.Popen[bytes]
    mailbox: Mailbox


@pytest.fixture
def mail_server(
    database_url: str, clean_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MailServer]:
    """``partnerhub serve`` (with its worker) that sends email to a local aiosmtpd."""
    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "PARTNERHUB_DATABASE_URL": database_url,
        "PARTNERHUB_PORT": str(port),
        "PARTNERHUB_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "PARTNERHUB_ADMIN_PASSWORD": "unused-admin-password",
        "PARTNERHUB_PUBLIC_URL": url,
        "PARTNERHUB_SMTP_HOST": "127.0.0.1",
        "PARTNERHUB_SMTP_PORT": str(smtp_port),
        "PARTNERHUB_SMTP_SECURITY": "none",
    }
    log = Path(log_path).open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "partnerhub", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready:\n" + log_path.read_text())
        yield MailServer(url, proc, mailbox)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        controller.stop()


@pytest.fixture
async def mail_db(mail_server: MailServer, database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=2)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def org_context(
    browser: Browser,  # noqa: F811 - the fixture imported from tests.e2e.conftest
    mail_server: MailServer,
) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(
        base_url=mail_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_invited_customer_administrator_sets_password_and_manages_users(
    org_context: BrowserContext, mail_server: MailServer, mail_db: Database
) -> None:
    tenant = await make_tenant(mail_db, "Acme")
    token = await tenant.token(WRITE, "partnerhub:templates_write")
    admin_email = "ada@hooli.example"
    async with httpx.AsyncClient(base_url=mail_server.url, timeout=30) as api:
        template = await create_template(api, tenant)
        created = await api.post(
            BASE,
            json=meetings_body(
                template["provisioningId"],
                "hooli",
                customerInfo={"name": "Hooli", "primaryEmail": admin_email},
            ),
            headers=bearer(token),
        )
        assert created.status_code == 202, created.text
    # The invitation arrives at the SMTP server (sent by the worker after provisioning).
    (message,) = await mail_server.mailbox.wait_for(1, within=60)
    assert message["To"] == admin_email
    match = LINK.search(_text(message))
    assert match, _text(message)
    link = match.group(1)

    page = await org_context.new_page()
    await page.goto(link)
    await expect(page.locator("#account-email")).to_have_text(admin_email)
    await page.get_by_label("New password (at least 12 characters)").fill("a long enough secret")
    await page.get_by_label("The same password again").fill("a long enough secret")
    await page.get_by_role("button", name="Save password").click()
    await expect(page.locator("#password-saved")).to_be_visible()
    await page.get_by_label("Password").fill("a long enough secret")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#org-name")).to_have_text("Hooli")
    await expect(page).to_have_url(re.compile(r"/org/[A-Za-z0-9_-]+/users$"))

    # The link worked once: a second visit is refused.
    second = await org_context.new_page()
    response = await second.goto(link)
    assert response is not None and response.status == 410
    await second.close()

    # Add a user to the organization.
    await page.get_by_label("Email", exact=True).fill("grace@hooli.example")
    await page.get_by_label("First name").fill("Grace")
    await page.get_by_label("Last name").fill("Hopper")
    await page.get_by_label("Package", exact=True).select_option("webex_meetings")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.locator("#org-notice")).to_be_visible()
    await expect(page.locator('#org-users tr[data-email="grace@hooli.example"]')).to_contain_text(
        "Grace Hopper"
    )
    # The new user is invited too.
    messages = await mail_server.mailbox.wait_for(2, within=30)
    assert messages[1]["To"] == "grace@hooli.example"
    assert LINK.search(_text(messages[1]))

    # Another organization of the same partner is not found.
    other, _ = await make_org(mail_db, tenant, name="Globex")
    other_ref = ids.encode("CUSTOMER", other.id, "us")
    response = await page.goto(f"/org/{other_ref}/users")
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_contain_text("404")
