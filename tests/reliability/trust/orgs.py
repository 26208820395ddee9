"""Customer organizations in the trust world, made over HTTP only: a template and a customer
through the API (the server's worker provisions it and emails its first administrator), users
through the API, passwords through the emailed links, customer-portal sign-ins through the forms.
"""

from __future__ import annotations

import asyncio
import re
import time
from email.message import EmailMessage

import httpx

from tests.conftest import csrf_of
from tests.notifications.conftest import Mailbox

ORG_COOKIE = "partnerhub_org_session"
ORG_PASSWORD = "org-user-Secret-pw-5a9c"
LINK_RE = re.compile(
    r"https?://[^\s/]+(/(?:account/(?:set|reset|admin)-password|consent)/[^\s<>\"]+)"
)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    return str(body.get_content()) if body is not None else ""


async def mail_to(
    mailbox: Mailbox, to: str, kind_hint: str, since: int = 0, within: float = 40.0
) -> EmailMessage:
    """The first email to ``to`` (after the ``since``-th message) whose text holds
    ``kind_hint``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for message in list(mailbox.messages)[since:]:
            if to.lower() in str(message["To"]).lower() and kind_hint in text_of(message):
                return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"no email to {to} with {kind_hint!r}")


def link_path(message: EmailMessage) -> str:
    """The path (with its token) of the single-use link in an email."""
    match = LINK_RE.search(text_of(message))
    assert match, text_of(message)
    return match.group(1)


async def use_password_link(client: httpx.AsyncClient, path: str, password: str) -> None:
    form = await client.get(path)
    assert form.status_code == 200, form.text
    done = await client.post(
        path, data={"csrf_token": csrf_of(form.text), "password": password, "confirm": password}
    )
    assert done.status_code == 303, done.text


async def forgot(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/signin/forgot")
    asked = await client.post(
        "/signin/forgot", data={"csrf_token": csrf_of(page.text), "email": email}
    )
    assert asked.status_code == 200, asked.text


async def give_password(
    client: httpx.AsyncClient, mailbox: Mailbox, email: str, password: str = ORG_PASSWORD
) -> None:
    """The user sets a password the way a user does: a reset link by email."""
    since = len(mailbox.messages)
    await forgot(client, email)
    await use_password_link(
        client, link_path(await mail_to(mailbox, email, "reset-password", since)), password
    )


async def org_sign_in(
    client: httpx.AsyncClient, email: str, password: str = ORG_PASSWORD
) -> httpx.Response:
    """Sign in to the customer portal with a password (the client keeps the cookie)."""
    page = await client.get("/signin")
    response = await client.post(
        "/signin/password",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password, "next": "/"},
    )
    assert response.status_code == 303, response.text
    assert client.cookies.get(ORG_COOKIE), "no customer-portal session"
    return response
