"""Repository base: all SQL lives in repositories, every query scoped to the principal."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.errors import NotFound
from partnerhub.kit.scope import Principal

Row = TypeVar("Row")


class Repository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

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
