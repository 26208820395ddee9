"""The administrator invitation arrives at a real SMTP server, in the customer's language
(the template's default otherwise), carrying the template's brand name; once per customer."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from partnerhub.db import Database
from partnerhub.models import OutboxEmail
from tests.conftest import bearer
from tests.customers.helpers import BASE, WRITE, running_worker, wait_for
from tests.factories import Tenant, create_template, meetings_body
from tests.notifications.conftest import Mailbox


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.parametrize(
    ("template_language", "customer_language", "expected", "greeting"),
    [
        ("it_IT", "it", "it", "Buongiorno"),
        ("it_IT", "en_GB", "en", "Hello"),
        ("it_IT", None, "it", "Buongiorno"),  # the template's default
        ("en_US", "fr_FR", "en", "Hello"),  # no French template: the template's default
        ("it_IT", "fr", "it", "Buongiorno"),
    ],
)
async def test_invitation_language_and_brand(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    mailbox: Mailbox,
    template_language: str,
    customer_language: str | None,
    expected: str,
    greeting: str,
) -> None:
    template = await create_template(
        client,
        tenant,
        defaultEmailLanguage=template_language,
        email={"brandName": "Pizzeria Cloud & Co"},
    )
    token = await tenant.token(WRITE)
    body = meetings_body(template["provisioningId"])
    body["customerInfo"]["primaryEmail"] = "Mario.Rossi@pizza.example"
    if customer_language:
        body["customerInfo"]["language"] = customer_language
    created = await client.post(BASE, json=body, headers=bearer(token))
    assert created.status_code == 202, created.text
    async with running_worker():
        await wait_for(client, created.headers["Location"], token)
        (message,) = await mailbox.wait_for(1)
        async with db.transaction() as session:
            mail = (await session.execute(select(OutboxEmail))).scalar_one()
        for _ in range(100):
            if mail.status == "sent":
                break
            async with db.transaction() as session:
                mail = (await session.execute(select(OutboxEmail))).scalar_one()
    assert message["To"] == "Mario.Rossi@pizza.example"
    assert message["From"] == "Pizzeria Cloud & Co <noreply@hub.example>"
    assert str(message["Subject"]).strip().startswith("Pizzeria Cloud & Co:")
    assert message["Content-Language"] == expected
    text = text_of(message)
    assert text.startswith(greeting)
    assert "Pizzeria Cloud & Co" in text
    assert "John's Pizza 1" in text
    assert "https://hub.example/" in text
    html = html_of(message)
    assert "Pizzeria Cloud &amp; Co" in html  # escaped in HTML
    assert f'lang="{expected}"' in html
    assert mailbox.envelopes[0][1] == ["Mario.Rossi@pizza.example"]
    assert mail.status == "sent" and mail.language == expected
    assert len(mailbox.messages) == 1


async def test_without_smtp_the_mail_stays_in_the_outbox(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    mailbox: Mailbox,
    settings: Any,
) -> None:
    settings.smtp_host = None
    template = await create_template(client, tenant, email={"brandName": "Quiet Brand"})
    token = await tenant.token(WRITE)
    created = await client.post(
        BASE, json=meetings_body(template["provisioningId"]), headers=bearer(token)
    )
    async with running_worker():
        await wait_for(client, created.headers["Location"], token)
    async with db.transaction() as session:
        mail = (await session.execute(select(OutboxEmail))).scalar_one()
    assert mail.status == "stored"
    assert mail.subject.startswith("Quiet Brand:")
    assert mail.to_address == "john1@pizza.example"
    assert mailbox.messages == []
