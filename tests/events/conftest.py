"""Fixtures of the event stream tests: a worker (provisioning), fast webhook retries, private
targets allowed (the receivers listen on 127.0.0.1), and a real HTTP receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from partnerhub.config import Settings
from tests.customers.helpers import running_worker
from tests.events.receiver import Receiver


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        provisioning_retries=3,
        provisioning_retry_seconds=0.0,
        webhook_allow_private_addresses=True,
        webhook_timeout_seconds=1.0,
        webhook_retry_base_seconds=0.05,
        webhook_retry_max_seconds=0.2,
        webhook_poll_seconds=0.05,
    )


@pytest.fixture
async def worker(app: Any) -> AsyncIterator[None]:
    async with running_worker():
        yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server
