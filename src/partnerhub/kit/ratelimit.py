"""Fixed-window rate limiting with the counters in PostgreSQL (shared by every process).

One upsert per key and request: ``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1``.
A key over its limit gets 429 with ``Retry-After`` (seconds until the window ends).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.errors import RateLimited
from partnerhub.models import RateCounter
from partnerhub.models.base import utcnow

WINDOW = timedelta(minutes=1)

_UPSERT = text(
    """
    INSERT INTO rate_counters (key, window_start, hits) VALUES (:key, :window, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1
    RETURNING hits
    """
)


def window_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


async def hit(session: AsyncSession, key: str, limit: int, now: datetime | None = None) -> None:
    """Count one request for ``key``; raise 429 when it is over ``limit`` per window.

    ``limit`` 0 or less counts without ever refusing (used to record failures).
    """
    now = now or utcnow()
    window = window_of(now)
    hits = (await session.execute(_UPSERT, {"key": key[:200], "window": window})).scalar_one()
    if 0 < limit < hits:
        retry = max(1, math.ceil((window + WINDOW - now).total_seconds()))
        raise RateLimited(
            f"Too many requests; retry in {retry} s", headers={"Retry-After": str(retry)}
        )


async def failures(session: AsyncSession, key: str, now: datetime | None = None) -> int:
    """How many times ``key`` was counted in the current window (for login throttling)."""
    now = now or utcnow()
    row = await session.get(RateCounter, (key[:200], window_of(now)))
    return row.hits if row else 0


async def purge(session: AsyncSession, older_than: datetime) -> None:
    await session.execute(delete(RateCounter).where(RateCounter.window_start < older_than))
