"""Shared by the "secrets are never logged" tests: an SMTP server that insists on AUTH, and the
walk through every place a secret travels (passwords, API tokens, session cookies, CSRF tokens,
emailed links, the SMTP password, an IdP client secret)."""

from __future__ import annotations

import asyncio
import email
import re
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "hub-mailer"
SMTP_PASSWORD = "smtp-Secret-9f3c2a71"
SECRET_KEY = "server-Secret-key-4b8e1d60a2"
CUSTOMER_PASSWORD = "customer-Secret-pw-7d21"
NEW_CUSTOMER_PASSWORD = "customer-Reset-pw-3e90"
OIDC_CLIENT_SECRET = "oidc-Client-secret-5c6b"
TOKEN_RE = re.compile(r"\bph_[A-Za-z0-9_\-]{20,}")


class Mailbox:
    """Receives emails; accepts AUTH only with the expected user and password."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == (SMTP_USER, SMTP_PASSWORD))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    async def link(self, to: str, kind: str, within: float = 30.0) -> str:
        """The token of the newest ``set`` or ``reset`` link emailed to ``to``."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for message in reversed(self.messages):
                if message["To"] and to in str(message["To"]):
                    body = message.get_body(preferencelist=("plain",))
                    text = str(body.get_content()) if body else ""
                    match = re.search(rf"/account/{kind}-password/([A-Za-z0-9_\-.]+)", text)
                    if match:
                        return match.group(1)
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {kind}-password link emailed to {to}")


@dataclass
class Secrets:
    """Every secret value that went through the system during a walk."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str | None) -> None:
        assert value, f"no value for {name}"
        self.values[name] = value

    def found_in(self, text: str) -> list[str]:
        return sorted(name for name, value in self.values.items() if value in text)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def walk(
    client: httpx.AsyncClient,
    email: str,
    password: str,
    box: Mailbox,
    worker: Callable[[], AbstractAsyncContextManager[Any]],
    oidc_issuer: str | None = None,
    oidc_client_id: str | None = None,
) -> Secrets:
    """Sign in as the partner administrator ``email`` and use every secret-bearing path, over
    HTTP only (so that it runs against the in-process app and a live server alike)."""
    secrets = Secrets()
    secrets.add("SMTP password", SMTP_PASSWORD)
    secrets.add("secret key", SECRET_KEY)
    secrets.add("administrator password", password)

    # the partner portal: password, session cookie, CSRF token; an API token made there
    page = await client.get("/login")
    signed_in = await client.post(
        "/login",
        data={"csrf_token": _csrf(page.text), "email": email, "password": password, "next": "/"},
    )
    assert signed_in.status_code == 303, signed_in.text[:500]
    secrets.add("session cookie", client.cookies["partnerhub_session"])
    page = await client.get("/settings/tokens")
    csrf = _csrf(page.text)
    secrets.add("CSRF token", csrf)
    scopes = [
        "spark-admin:wholesale_customers_write",
        "partnerhub:templates_write",
        "partnerhub:admin",
    ]
    page = await client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": "ci", "scopes": scopes, "expires": "1d"},
    )
    found = TOKEN_RE.search(page.text)
    assert found, page.text[:2000]
    token = found.group(0)
    secrets.add("API token", token)

    # the API: the token on reads, writes and refusals, and a guessed token
    guessed = "ph_" + "G" * 43
    secrets.add("guessed token", guessed)
    assert (
        await client.get("/v1/wholesale/customers", headers=_bearer(guessed))
    ).status_code == 401
    missing = await client.get("/v1/wholesale/customers/nope", headers=_bearer(token))
    assert missing.status_code == 404
    if oidc_issuer:
        registered = await client.post(
            "/v1/partner/identityProviders",
            json={
                "type": "oidc",
                "name": "Corp",
                "issuer": oidc_issuer,
                "clientId": oidc_client_id,
                "clientSecret": OIDC_CLIENT_SECRET,
            },
            headers=_bearer(token),
        )
        assert registered.status_code == 201, registered.text
        secrets.add("IdP client secret", OIDC_CLIENT_SECRET)
    template = await client.post(
        "/v1/partner/templates",
        json={
            "name": "Secrets walk",
            "offer": "wholesale",
            "serviceProviderAdminEmail": email,
            "country": "US",
            "defaultEmailLanguage": "en_US",
            "wholesaleSubscriptionId": "Sub-1",
            "authentication": {"method": "platform"},
            "email": {"brandName": "Walk Cloud"},
        },
        headers=_bearer(token),
    )
    assert template.status_code == 201, template.text
    user_email = "walker@customer.example"
    created = await client.post(
        "/v1/wholesale/customers",
        json={
            "provisioningId": template.json()["provisioningId"],
            "packages": ["webex_meetings"],
            "externalId": "walk-1",
            "address": {
                "addressLine1": "771 Alder Drive",
                "city": "Milpitas",
                "stateOrProvince": "CA",
                "zipOrPostalCode": "95035",
                "country": "US",
            },
            "customerInfo": {"name": "Walk Co", "primaryEmail": user_email},
        },
        headers=_bearer(token),
    )
    assert created.status_code == 202, created.text

    async with worker():
        # the invitation goes out through SMTP (with AUTH); the user sets a password
        invitation = await box.link(user_email, "set")
        secrets.add("invitation link", invitation)
        form = await client.get(f"/account/set-password/{invitation}")
        assert form.status_code == 200, form.text[:500]
        done = await client.post(
            f"/account/set-password/{invitation}",
            data={
                "csrf_token": _csrf(form.text),
                "password": CUSTOMER_PASSWORD,
                "confirm": CUSTOMER_PASSWORD,
            },
        )
        assert done.status_code in (200, 303), done.text[:500]
        secrets.add("customer password", CUSTOMER_PASSWORD)
        page = await client.get("/signin")
        signed_in = await client.post(
            "/signin/password",
            data={
                "csrf_token": _csrf(page.text),
                "email": user_email,
                "password": CUSTOMER_PASSWORD,
                "next": "/",
            },
        )
        assert signed_in.status_code == 303, signed_in.text[:500]
        secrets.add("customer portal cookie", client.cookies["partnerhub_org_session"])
        # a password reset, through SMTP again
        page = await client.get("/signin/forgot")
        asked = await client.post(
            "/signin/forgot", data={"csrf_token": _csrf(page.text), "email": user_email}
        )
        assert asked.status_code in (200, 303), asked.text[:500]
        reset = await box.link(user_email, "reset")
        secrets.add("password-reset link", reset)
        form = await client.get(f"/account/reset-password/{reset}")
        await client.post(
            f"/account/reset-password/{reset}",
            data={
                "csrf_token": _csrf(form.text),
                "password": NEW_CUSTOMER_PASSWORD,
                "confirm": NEW_CUSTOMER_PASSWORD,
            },
        )
        secrets.add("new customer password", NEW_CUSTOMER_PASSWORD)
    assert (SMTP_USER, SMTP_PASSWORD) in box.logins, "SMTP AUTH was not used"
    return secrets
