"""Fixtures for the platform identity of organization users and the customer portal."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from partnerhub.config import Settings
from tests.conftest import csrf_of
from tests.factories import USER_PASSWORD
from tests.sso.conftest import (  # noqa: F401 - fixtures shared with the SSO tests
    idp_http,
    oidc_provider,
    saml_idp,
)

PASSWORD = USER_PASSWORD  # what tests.factories.give_password sets


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        sso_allow_private_addresses=True,
        lockout_failures=3,
        lockout_minutes=15,
        login_failures_per_window=100,
    )


async def signin_form(client: httpx.AsyncClient, email: str) -> httpx.Response:
    """The email step of /signin; returns the page it leads to."""
    page = await client.get("/signin")
    return await client.post(
        "/signin", data={"csrf_token": csrf_of(page.text), "email": email, "next": "/"}
    )


async def password_signin(
    client: httpx.AsyncClient, email: str, password: str, next_url: str = "/"
) -> httpx.Response:
    page = await client.get("/signin")
    return await client.post(
        "/signin/password",
        data={
            "csrf_token": csrf_of(page.text),
            "email": email,
            "password": password,
            "next": next_url,
        },
    )


LINK_RE = re.compile(r"https://testserver(/account/(?:set|reset)-password/[A-Za-z0-9_\-.]+)")


def link_in(text: str) -> str:
    match = LINK_RE.search(text)
    assert match, text[:2000]
    return match.group(1)
