"""Counting the SQL statements a request sends, at the driver level.

Every statement of the app reaches PostgreSQL through ``psycopg.AsyncCursor.execute`` (or
``executemany``): SQLAlchemy's async psycopg adapter, the autocommit driver pool
(``Database.direct``: the bearer check) and procrastinate's connector alike. :func:`counting`
wraps those two methods for the block, calls straight through, and records each statement's
text; psycopg's own ``BEGIN`` and ``COMMIT`` (sent by the connection, not by a cursor) are not
counted as statements: ``sent.transactions`` counts the transactions instead (a commit or
rollback of one in progress, and every outermost ``connection.transaction()`` block: each a
``BEGIN`` and a ``COMMIT`` more). A new connection's set-up statement
(``partnerhub.db.CONNECTION_SETUP``) is not a request's either: a pool opens connections in
the background whenever it grows or replaces one, and may do it while a request is counted (a
budget test failed once in CI on it); ``setups`` counts those apart. Use it with the app in
process (``client``), so the statements are this process's::

    with counting() as sent:
        response = await client.post(...)
    assert len(sent) == BUDGET, sent.explain()
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.pq import TransactionStatus

from partnerhub.db import CONNECTION_SETUP


class Statements(list[str]):
    transactions: int = 0
    setups: int = 0  # new connections' CONNECTION_SETUP, not counted as statements

    def explain(self) -> str:
        return "\n".join(f"{i + 1}. {' '.join(s.split())[:160]}" for i, s in enumerate(self))


@contextlib.contextmanager
def counting() -> Iterator[Statements]:
    sent = Statements()
    execute = psycopg.AsyncCursor.execute
    executemany = psycopg.AsyncCursor.executemany
    commit = psycopg.AsyncConnection.commit
    rollback = psycopg.AsyncConnection.rollback
    enter = psycopg.AsyncTransaction.__aenter__

    async def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == CONNECTION_SETUP:
            sent.setups += 1
        else:
            sent.append(_text(query, self))
        return await execute(self, query, *args, **kwargs)

    async def counted_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(_text(query, self))
        return await executemany(self, query, *args, **kwargs)

    def ends(method: Any) -> Any:
        async def counted(self: Any) -> None:
            # BEGIN/COMMIT (or ROLLBACK) went out only for a transaction in progress.
            if self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                sent.transactions += 1
            await method(self)

        return counted

    async def counted_enter(self: Any) -> Any:
        if self._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            sent.transactions += 1  # an outermost block: BEGIN ... COMMIT
        return await enter(self)

    psycopg.AsyncCursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.AsyncCursor.executemany = counted_executemany  # type: ignore[method-assign]
    psycopg.AsyncConnection.commit = ends(commit)  # type: ignore[method-assign]
    psycopg.AsyncConnection.rollback = ends(rollback)  # type: ignore[method-assign]
    psycopg.AsyncTransaction.__aenter__ = counted_enter  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
        psycopg.AsyncCursor.executemany = executemany  # type: ignore[method-assign]
        psycopg.AsyncConnection.commit = commit  # type: ignore[method-assign]
        psycopg.AsyncConnection.rollback = rollback  # type: ignore[method-assign]
        psycopg.AsyncTransaction.__aenter__ = enter  # type: ignore[method-assign]


@dataclass
class Sent:
    """What every psycopg connection of this process sent while ``counting``: statements and
    transactions (each a BEGIN and a COMMIT or ROLLBACK: two more round trips)."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    counting: bool = False
    setups: int = 0  # new connections' CONNECTION_SETUP, not counted as statements


def count_sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Count, for the rest of the test, every cursor execute and every transaction ended (the
    statement budget tests' ``sent`` fixture; :func:`counted` switches the counting on)."""
    seen = Sent()
    execute = psycopg.AsyncCursor.execute
    executemany = psycopg.AsyncCursor.executemany
    commit = psycopg.AsyncConnection.commit
    rollback = psycopg.AsyncConnection.rollback

    def text_of(query: Any) -> str:
        return " ".join(str(getattr(query, "text", query)).split())[:120]

    async def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if seen.counting:
            if query == CONNECTION_SETUP:
                seen.setups += 1
            else:
                seen.statements.append(text_of(query))
        return await execute(self, query, *args, **kwargs)

    async def counted_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if seen.counting:
            seen.statements.append("many: " + text_of(query))
        return await executemany(self, query, *args, **kwargs)

    def ends(method: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        async def counted(self: Any) -> None:
            # BEGIN/COMMIT (or ROLLBACK) go out only for a transaction in progress.
            if seen.counting and self.info.transaction_status != TransactionStatus.IDLE:
                seen.transactions += 1
            await method(self)

        return counted

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted_execute)
    monkeypatch.setattr(psycopg.AsyncCursor, "executemany", counted_executemany)
    monkeypatch.setattr(psycopg.AsyncConnection, "commit", ends(commit))
    monkeypatch.setattr(psycopg.AsyncConnection, "rollback", ends(rollback))
    return seen


async def counted(
    sent: Sent, request: Callable[[], Awaitable[httpx.Response]], status: int = 200
) -> httpx.Response:
    """``request()`` with ``sent`` counting (cleared first); its answer must be ``status``."""
    sent.statements.clear()
    sent.transactions = 0
    sent.setups = 0
    sent.counting = True
    try:
        response = await request()
    finally:
        sent.counting = False
    assert response.status_code == status, response.text
    return response


def _text(query: Any, cursor: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    try:
        return str(query.as_string(cursor))
    except Exception:
        return repr(query)
