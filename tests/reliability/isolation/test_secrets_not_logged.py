"""No secret ever reaches the logs, even at DEBUG (issue 6, item 5).

One walk through every place a secret travels, in the app with a real worker, a real SMTP server
that insists on AUTH and a real OIDC provider, with every logger at DEBUG: an administrator's
password and session cookie, the CSRF token, an API token created in the portal and used (and a
guessed one refused), the SMTP password, the server's secret key, an IdP client secret, the
invitation and password-reset links, a customer user's passwords and session. Then the
captured log text must hold none of them (nor a stored password hash).

``test_live_server_log.py`` does the same against a real ``partnerhub serve --log-level debug``
process and greps its stderr (uvicorn's access log included).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from partnerhub.config import Settings
from partnerhub.db import Database
from partnerhub.models import PartnerAdmin
from tests.conftest import free_port
from tests.customers.helpers import running_worker
from tests.factories import Tenant
from tests.reliability.isolation import secret_walk as walk
from tests.sso.oidc_provider import OidcProvider


@pytest.fixture
def mailbox() -> Iterator[tuple[walk.Mailbox, int]]:
    box = walk.Mailbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path, mailbox: tuple[walk.Mailbox, int]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        public_url="https://testserver",
        sso_allow_private_addresses=True,
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_username=walk.SMTP_USER,
        smtp_password=walk.SMTP_PASSWORD,
        smtp_security="none",
        secret_key=walk.SECRET_KEY,
        provisioning_retry_seconds=0.0,
        login_failures_per_window=100,
    )


@pytest.fixture
def oidc() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    yield provider
    provider.close()


@pytest.fixture
async def debug_logs(caplog: pytest.LogCaptureFixture) -> AsyncIterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def app_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The app's records: without the test's own SMTP server (``mail.log``) and HTTP client
    (its requests to ``https://testserver``), which stand for the outside world."""
    return [
        r
        for r in caplog.records
        if not r.name.startswith("mail.")
        and not (r.name == "httpx" and "https://testserver/" in r.getMessage())
    ]


def log_text(records: list[logging.LogRecord]) -> str:
    """The records as a handler writes them: message, arguments, traceback."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    return "\n".join(handler.format(r) for r in records)


def where(secrets: walk.Secrets, text: str) -> dict[str, list[str]]:
    return {
        name: [line[:300] for line in text.splitlines() if secrets.values[name] in line][:2]
        for name in secrets.found_in(text)
    }


async def test_no_secret_in_the_logs_at_debug(
    debug_logs: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    mailbox: tuple[walk.Mailbox, int],
    oidc: OidcProvider,
) -> None:
    oidc_client = oidc.add_client("https://testserver/sso/oidc/x/callback")
    secrets = await walk.walk(
        client,
        tenant.admin.email,
        tenant.password,
        mailbox[0],
        running_worker,
        oidc.issuer,
        oidc_client.client_id,
    )
    secrets.add("API token (test fixture)", await tenant.token("partnerhub:admin"))
    async with db.transaction() as session:
        stored = await session.get(PartnerAdmin, tenant.admin.id)
        assert stored is not None and stored.password_hash
        secrets.add("password hash", stored.password_hash)

    records = app_records(debug_logs)
    assert len(records) > 20, "DEBUG logging did not capture the walk"
    assert any(r.levelno == logging.DEBUG for r in records)
    text = log_text(records)
    assert not secrets.found_in(text), f"secrets in the logs: {where(secrets, text)}"
