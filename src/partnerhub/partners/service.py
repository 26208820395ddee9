"""Rules for sub-partners.

* ``onBehalfOfSubPartnerOrgId`` is the opaque organization id of a sub-partner,
  ``ids.encode("ORGANIZATION", partner.id)`` (what ``GET /v1/wholesale/subPartners`` returns
  as ``orgId``). It switches the principal to the sub-partner after checking that it is a
  direct child of the caller's partner; anything else is 404 (no hint whether it exists).
* A suspended sub-partner (``provisioning_state == 'suspended'``) may read and delete, but not
  provision, update or precheck: 403 (errorCode 1300). This holds whether the parent acts for
  it or the sub-partner uses its own credential.
"""

from __future__ import annotations

from partnerhub import ids
from partnerhub.errors import Forbidden, InvalidValue, NotFound
from partnerhub.kit.scope import Principal
from partnerhub.models import Partner
from partnerhub.partners.repository import PartnerRepository

SUB_PARTNERS_READ = "spark-admin:wholesale_sub_partners_read"
STATES = ("active", "suspended")
SUSPENDED = "suspended"
# Methods a suspended sub-partner may still use.
ALLOWED_WHEN_SUSPENDED = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def org_id(partner: Partner) -> str:
    return ids.encode("ORGANIZATION", partner.id)


async def acting_principal(
    repo: PartnerRepository, on_behalf_of: str | None, method: str
) -> Principal:
    """The principal a wholesale request acts as (see the module docstring)."""
    principal = repo.principal
    if on_behalf_of is not None:
        sub_id = ids.decode("ORGANIZATION", on_behalf_of.strip())
        sub = await repo.sub_partner(sub_id) if sub_id is not None else None
        if sub is None:
            raise NotFound(
                "onBehalfOfSubPartnerOrgId: no sub-partner of yours has this organization id",
                field="onBehalfOfSubPartnerOrgId",
            )
        acting: Partner | None = sub
        principal = principal.acting_for(sub.id)
    elif method.upper() in ALLOWED_WHEN_SUSPENDED:
        return principal
    else:
        acting = await repo.acting_partner()
    if (
        acting is not None
        and acting.parent_id is not None
        and acting.provisioning_state == SUSPENDED
        and method.upper() not in ALLOWED_WHEN_SUSPENDED
    ):
        raise Forbidden("The sub-partner is suspended: it can only delete customers")
    return principal


async def list_sub_partners(
    repo: PartnerRepository, state: str | None, offset: int, limit: int
) -> list[Partner]:
    repo.principal.require(SUB_PARTNERS_READ)
    if state is not None:
        state = state.strip().lower()
        if state not in STATES:
            raise InvalidValue(
                f"provisioningState: '{state}' is not allowed (active, suspended)",
                field="provisioningState",
            )
    return await repo.sub_partners(state, offset, limit)
