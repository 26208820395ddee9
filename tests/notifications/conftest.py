"""A real SMTP server (aiosmtpd) for the email tests; settings with quick retries."""

from __future__ import annotations

import asyncio
import email
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from partnerhub.config import Settings
from tests.conftest import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, within: float = 20.0) -> list[EmailMessage]:
        """Wait until ``count`` emails arrived (the server runs in its own thread)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                break
            await asyncio.sleep(0.05)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} emails arrived"
        return self.messages


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path, smtp_server: tuple[Mailbox, int]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        provisioning_retries=3,
        provisioning_retry_seconds=0.0,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server[1],
        smtp_security="none",
        smtp_from="Provisioning <noreply@hub.example>",
        public_url="https://hub.example",
    )


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    return smtp_server[0]
