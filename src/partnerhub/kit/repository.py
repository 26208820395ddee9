"""Repository base: all SQL lives in repositories, every query scoped to the principal."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.kit.scope import Principal


class Repository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def scoped(self, stmt: Select[Any], model: Any) -> Select[Any]:
        """Restrict ``stmt`` to rows of the acting partner (the one choke point)."""
        return stmt.where(model.partner_id == self.principal.partner_id)
