"""Rate limiting and attempt throttling with the counters in PostgreSQL (shared by every process).

Two tools, both counting and checking in one atomic statement (an upsert that returns the
new count, judged afterwards), so that N parallel requests can never all be judged under the
limit:

* **request rate limits** of the API (:func:`hit`, :func:`hit_many`): fixed one-minute windows
  in ``rate_counters``, ``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING``;
* **the attempt throttle** (:func:`attempt`) of everything that checks a secret a stranger could
  guess: passwords of partner administrators and customer users, second-factor codes, reset
  requests. One row per key in ``sign_in_attempts``; the attempt is counted **before** the
  secret is checked, in its own short transaction, and refused (429 with ``Retry-After``) once
  the key's count is over its limit; a key that reaches its limit is locked until
  ``locked_until`` (the lock-out). :func:`forgive` undoes the count of an attempt that succeeded.

A key over its limit gets 429 with ``Retry-After`` (seconds until the window or the lock ends).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.errors import RateLimited
from partnerhub.models import RateCounter, SignInAttempt
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


async def purge(session: AsyncSession, older_than: datetime) -> None:
    await session.execute(delete(RateCounter).where(RateCounter.window_start < older_than))


# --- the attempt throttle -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` attempts per ``window`` for ``key``; reaching it locks the key for
    ``lock``. A lock-out (``lockout=True``): a success clears the key (consecutive failures),
    and the failed attempt that reaches the limit is itself answered 429 (it locked the key);
    otherwise (failures per window) a success only takes its own attempt back, and the attempt
    after the limit is the first refused."""

    key: str
    limit: int
    window: timedelta
    lock: timedelta
    lockout: bool = False


@dataclass(frozen=True)
class Counted:
    rule: Rule
    attempts: int
    started: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class Attempt:
    """An attempt that was counted: what :func:`forgive` and :func:`refusal` need."""

    counted: tuple[Counted, ...]
    now: datetime

    def refused(self) -> RateLimited | None:
        """429 when any key was already over its limit: the attempt must not be checked."""
        return self._over(lambda c: c.attempts > c.rule.limit)

    def locked(self) -> RateLimited | None:
        """After a failure: 429 when it brought a lock-out key to its limit (it locked it)."""
        return self._over(lambda c: c.rule.lockout and c.attempts >= c.rule.limit)

    def _over(self, test: Callable[[Counted], bool]) -> RateLimited | None:
        over = [c for c in self.counted if test(c)]
        if not over:
            return None
        until = max((c.locked_until or c.started + c.rule.window) for c in over)
        retry = max(1, math.ceil((until - self.now).total_seconds()))
        return RateLimited(ATTEMPTS_MESSAGE, headers={"Retry-After": str(retry)})


ATTEMPTS_MESSAGE = "Too many failed attempts; wait before trying again"

_ATTEMPT_SQL = text(
    """
    INSERT INTO sign_in_attempts AS a (key, started, attempts, locked_until, expires)
    VALUES (:key, :now, 1, :first_lock, :first_expires)
    ON CONFLICT (key) DO UPDATE SET
      started = CASE WHEN a.expires <= :now THEN :now ELSE a.started END,
      attempts = CASE WHEN a.expires <= :now THEN 1 ELSE a.attempts + 1 END,
      locked_until = CASE
        WHEN a.expires <= :now THEN :first_lock
        WHEN a.locked_until IS NOT NULL THEN a.locked_until
        WHEN a.attempts + 1 >= :limit THEN :lock_end
        ELSE NULL END,
      expires = CASE
        WHEN a.expires <= :now THEN :first_expires
        WHEN a.locked_until IS NULL AND a.attempts + 1 >= :limit THEN greatest(a.expires, :lock_end)
        ELSE a.expires END
    RETURNING attempts, started, locked_until
    """
)


async def attempt(session: AsyncSession, rules: list[Rule], now: datetime | None = None) -> Attempt:
    """Count one attempt against every rule (keys in a fixed order: no deadlock between two
    attempts); each key's count is incremented and returned by one atomic upsert, so parallel
    attempts get distinct counts. Commit it before checking the secret (the caller's short
    transaction), then ask :meth:`Attempt.refused`. Rules with a limit of 0 or less are off."""
    now = now or utcnow()
    counted = []
    for rule in sorted((r for r in rules if r.limit > 0), key=lambda r: r.key):
        lock_end = now + rule.lock
        first_lock = lock_end if rule.limit <= 1 else None
        row = (
            await session.execute(
                _ATTEMPT_SQL,
                {
                    "key": rule.key[:200],
                    "now": now,
                    "limit": rule.limit,
                    "lock_end": lock_end,
                    "first_lock": first_lock,
                    "first_expires": max(now + rule.window, first_lock or now),
                },
            )
        ).one()
        counted.append(Counted(rule, row[0], row[1], row[2]))
    return Attempt(tuple(counted), now)


_REFUND_SQL = text(
    """
    UPDATE sign_in_attempts SET
      attempts = greatest(attempts - 1, 0),
      locked_until = CASE WHEN attempts - 1 < :limit THEN NULL ELSE locked_until END,
      expires = CASE WHEN attempts - 1 < :limit THEN :window_end ELSE expires END
    WHERE key = :key AND started = :started
    """
)


async def forgive(session: AsyncSession, done: Attempt, complete: bool = True) -> None:
    """The attempt succeeded: clear its lock-out keys, take its count back from the others.
    ``complete=False`` (a password right, its second factor still to come): only take its own
    count back, so that the failures of the second factor still add up."""
    for c in done.counted:
        if c.rule.lockout and complete:
            await session.execute(delete(SignInAttempt).where(SignInAttempt.key == c.rule.key))
        else:
            await session.execute(
                _REFUND_SQL,
                {
                    "key": c.rule.key[:200],
                    "limit": c.rule.limit,
                    "started": c.started,
                    "window_end": c.started + c.rule.window,
                },
            )


async def clear(session: AsyncSession, key: str) -> bool:
    """Forget a key (an administrator unlocks an account); True when it was locked."""
    row = await session.get(SignInAttempt, key[:200])
    locked = bool(row and row.locked_until and row.locked_until > utcnow())
    await session.execute(delete(SignInAttempt).where(SignInAttempt.key == key[:200]))
    return locked


async def is_locked(session: AsyncSession, key: str) -> bool:
    row = await session.get(SignInAttempt, key[:200])
    return bool(row and row.locked_until and row.locked_until > utcnow())


async def purge_attempts(session: AsyncSession, older_than: datetime) -> None:
    await session.execute(delete(SignInAttempt).where(SignInAttempt.expires < older_than))
