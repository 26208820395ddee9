"""Counting the SQL statements a request sends, at the driver level.

Every statement of the app reaches PostgreSQL through ``psycopg.AsyncCursor.execute`` (or
``executemany``): SQLAlchemy's async psycopg adapter, the autocommit driver pool
(``Database.direct``: the bearer check) and procrastinate's connector alike. :func:`counting`
wraps those two methods for the block, calls straight through, and records each statement's
text; psycopg's own ``BEGIN`` and ``COMMIT`` (sent by the connection, not by a cursor) are not
counted as statements: ``sent.transactions`` counts the transactions instead (a commit or
rollback of one in progress, and every outermost ``connection.transaction()`` block: each a
``BEGIN`` and a ``COMMIT`` more). Use it with the app in process (``client``), so the
statements are this process's::

    with counting() as sent:
        response = await client.post(...)
    assert len(sent) == BUDGET, sent.explain()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg


class Statements(list[str]):
    transactions: int = 0

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


def _text(query: Any, cursor: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    try:
        return str(query.as_string(cursor))
    except Exception:
        return repr(query)
