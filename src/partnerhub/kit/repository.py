"""Repository base: all SQL lives in repositories, every query scoped to the principal.

A repository works inside a request's :class:`Work`, its unit of work on the database. The hot
statements of a repository (plain SQL, see ``SubscriberRepository``) run on
:meth:`Work.driver`, a psycopg connection; everything else on :attr:`Work.session`, the ORM
session. A work made by :func:`partnerhub.kit.web.work` starts with neither: each plain
statement runs on an autocommit connection of ``Database.direct``, checked out for that
statement only (atomic on its own, no ``BEGIN``/``COMMIT``, no connection held while Python
works), and the ORM session, with its transaction, is opened only when something asks for it.
From then on the plain statements run on the session's connection, inside its transaction: a
write that must commit with another (an ``Idempotency-Key``, a limited package's lock, a
headquarters materialized for the new row) is in the same transaction. A work made over an
existing session (:meth:`Work.of_session`, what ``Repository(session, principal)`` does) is
that session's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar, cast

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from partnerhub.db import Checkout
from partnerhub.errors import NotFound
from partnerhub.kit.scope import Principal

Row = TypeVar("Row")


class Work:
    """One request's unit of work: plain statements in autocommit until the ORM session is
    asked for, then the session's transaction (see the module docstring). Finish it with
    :meth:`finish` (commit) or :meth:`abandon` (roll back); :func:`kit.web.work` does."""

    __slots__ = ("_pool", "_session", "_sessions")

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        pool: AsyncConnectionPool | None,
        session: AsyncSession | None = None,
    ) -> None:
        self._sessions = sessions  # None: the session is the caller's (of_session)
        self._pool = pool
        self._session = session

    @classmethod
    def of_session(cls, session: AsyncSession) -> Work:
        """The work of an existing session (its caller commits it)."""
        return cls(None, None, session)

    @property
    def session(self) -> AsyncSession:
        """The ORM session (opened now if the work has none: it begins on first use)."""
        if self._session is None:
            assert self._sessions is not None
            self._session = self._sessions()
        return self._session

    def driver(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """The psycopg connection for one plain statement (``async with work.driver() as
        conn``): the session's, inside its transaction, once the work has a session; before
        that an autocommit connection of the pool, given back when the block ends."""
        if self._session is not None:
            return self._session_driver()
        assert self._pool is not None
        return Checkout(self._pool)

    @asynccontextmanager
    async def _session_driver(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        assert self._session is not None
        connection = await self._session.connection()
        raw = await connection.get_raw_connection()
        own = raw.driver_connection
        assert own is not None
        yield cast("psycopg.AsyncConnection[Any]", own)

    async def finish(self) -> None:
        """Commit the session's transaction, if the work opened one."""
        if self._session is not None and self._sessions is not None:
            try:
                await self._session.commit()
            finally:
                await self._session.close()

    async def abandon(self) -> None:
        """Roll back the session's transaction, if the work opened one."""
        if self._session is not None and self._sessions is not None:
            try:
                await self._session.rollback()
            finally:
                await self._session.close()


class Repository:
    def __init__(self, session: AsyncSession | Work, principal: Principal) -> None:
        self.work = session if isinstance(session, Work) else Work.of_session(session)
        self.principal = principal

    @property
    def session(self) -> AsyncSession:
        """The work's ORM session (opened on first use)."""
        return self.work.session

    def scoped(self, stmt: Select[Any], model: Any) -> Select[Any]:
        """Restrict ``stmt`` to rows of the acting partner (the one choke point)."""
        return stmt.where(model.partner_id == self.principal.partner_id)

    async def get_or_404(
        self, model: type[Row], row_id: uuid.UUID | None, missing: str, *, for_update: bool = False
    ) -> Row:
        """The acting partner's ``model`` row ``row_id``. ``None`` (an opaque id that did not
        decode), an unknown id and another tenant's id all answer the same 404
        (``NotFound(missing)``): never a 403, never a hint that the row exists."""
        if row_id is not None:
            table: Any = model
            stmt = self.scoped(select(table).where(table.id == row_id), table)
            if for_update:
                stmt = stmt.with_for_update()
            row: Row | None = (await self.session.execute(stmt)).scalar_one_or_none()
            if row is not None:
                return row
        raise NotFound(missing)
