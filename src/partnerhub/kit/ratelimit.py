"""Fixed-window rate limiting with the counters in PostgreSQL (shared by every process).

One upsert statement per request for all its keys:
``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1``.
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


def window_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


async def hit(session: AsyncSession, key: str, limit: int, now: datetime | None = None) -> None:
    """Count one request for ``key``; raise 429 when it is over ``limit`` per window.

    ``limit`` 0 or less counts without ever refusing (used to record failures).
    """
    await hit_many(session, [(key, limit)], now)


async def hit_many(
    session: AsyncSession, keys: list[tuple[str, int]], now: datetime | None = None
) -> None:
    """Count one request for each ``(key, limit)`` in one statement; 429 if any is over."""
    now = now or utcnow()
    window = window_of(now)
    params: dict[str, object] = {"window": window}
    rows = []
    for i, (key, _limit) in enumerate(keys):
        params[f"k{i}"] = key[:200]
        rows.append(f"(:k{i}, :window, 1)")
    # Only generated placeholders are joined in; every value is a bound parameter.
    stmt = text(
        "INSERT INTO rate_counters (key, window_start, hits) VALUES "  # noqa: S608
        + ", ".join(rows)
        + " ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1"
        " RETURNING key, hits"
    )
    counted = {row[0]: row[1] for row in await session.execute(stmt, params)}
    refuse_over([(counted.get(key[:200], 0), limit) for key, limit in keys], now)


def refuse_over(counts: list[tuple[int, int]], now: datetime) -> None:
    """429 with ``Retry-After`` if any ``(hits, limit)`` is over its limit (0 = no limit)."""
    for hits, limit in counts:
        if 0 < limit < hits:
            retry = max(1, math.ceil((window_of(now) + WINDOW - now).total_seconds()))
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
