"""Settings for the bad-input corpus: rate limits off (a thousand requests per test; rate
limiting has its own tests), everything else as in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from partnerhub.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        cookie_secure=True,
        admin_password="unused",
        rate_limit_per_token=0,
        rate_limit_per_address=0,
    )
