"""The tenant choke point: who is acting, for which partner, with which scopes.

Every repository query goes through a :class:`Principal`. Another tenant's id is simply not
found (404), never forbidden.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from partnerhub.catalog.roles import ALL_SCOPES, implied
from partnerhub.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    kind: str  # "admin" (portal session) | "token" | "system"
    partner_id: uuid.UUID  # the partner whose data is reached (sub-partner when acting for one)
    home_partner_id: uuid.UUID  # the partner the credential belongs to
    actor_id: uuid.UUID | None
    actor_email: str | None
    role: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # The credential's own partner is a suspended sub-partner (read and delete only).
    suspended: bool = False

    def has(self, scope: str) -> bool:
        return scope in implied(self.scopes)

    def require(self, *scopes: str) -> None:
        """Refuse (403) unless the principal holds at least one of ``scopes``."""
        if not any(self.has(s) for s in scopes):
            raise Forbidden(f"Missing scope: {' or '.join(scopes)}")

    def acting_for(self, partner_id: uuid.UUID, suspended: bool = False) -> Principal:
        return replace(self, partner_id=partner_id, suspended=suspended)

    @property
    def acting_for_sub_partner(self) -> bool:
        return self.partner_id != self.home_partner_id


def system_principal(partner_id: uuid.UUID) -> Principal:
    """A principal for work the hub does on a partner's behalf (provisioning, imports)."""
    return Principal(
        kind="system",
        partner_id=partner_id,
        home_partner_id=partner_id,
        actor_id=None,
        actor_email=None,
        role=None,
        scopes=frozenset(ALL_SCOPES),
    )
