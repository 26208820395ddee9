"""The administrators of a customer organization and their roles.

Administrator roles are given to users of the organization (an empty list makes one a plain
user again); a subscriber waiting for its user's consent cannot be one, and an administrator
holds at least the package tier the organization was created with (:func:`rules.check_admin_tier`).
"""

from __future__ import annotations

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog.customer_roles import FULL_ADMIN
from partnerhub.errors import Conflict, InvalidValue
from partnerhub.models import Customer, OrgUser
from partnerhub.subscribers.repository import PENDING, SubscriberRepository
from partnerhub.subscribers.rules import (
    READ,
    WRITE,
    check_admin_tier,
    check_customer,
    check_roles,
    customer_of,
    flush_or_refuse,
    user_of,
)

LAST_FULL_ADMIN_CODE = 1213
LAST_FULL_ADMIN = (
    "the organization's last full administrator cannot be removed or demoted; "
    "make another user a full administrator first"
)


async def keep_a_full_admin(repo: SubscriberRepository, user: OrgUser, roles: list[str]) -> None:
    """Refuse (409, errorCode 1213) taking the full administrator role from *user* (its
    roles becoming *roles*; ``[]`` when it is removed) when no other user of the organization
    holds it. Race-safe: the changes of one organization's full administrators are
    serialized by a transaction lock taken before counting, so two concurrent demotions of
    the last two cannot both pass."""
    if FULL_ADMIN not in (user.roles or []) or FULL_ADMIN in roles:
        return
    await repo.lock_full_admins(user.customer_id)
    if await repo.other_full_admins(user.customer_id, user.id) == 0:
        raise Conflict(LAST_FULL_ADMIN, code=LAST_FULL_ADMIN_CODE, field="roles")


async def administrators(
    repo: SubscriberRepository, customer_ref: str, offset: int, limit: int
) -> tuple[Customer, list[OrgUser]]:
    repo.principal.require(READ)
    customer = await customer_of(repo, customer_ref)
    return customer, await repo.administrators(customer.id, offset, limit)


async def set_roles(
    repo: SubscriberRepository, customer_ref: str, user_ref: str, roles: list[str]
) -> tuple[Customer, OrgUser]:
    """Give a user of the organization its administrator roles (replacing the previous ones);
    an empty list makes it a plain user again."""
    repo.principal.require(WRITE)
    customer = await customer_of(repo, customer_ref)
    check_customer(customer)
    user = await user_of(repo, customer, user_ref)
    chosen = check_roles(roles)
    if chosen and user.status == PENDING:
        raise InvalidValue(
            "a subscriber waiting for its user's consent cannot be an administrator",
            field="admin_role",
        )
    check_admin_tier(customer, chosen, user.package)
    await keep_a_full_admin(repo, user, chosen)
    before = sorted(user.roles or [])
    user.roles = chosen
    if sorted(chosen) != before:
        audit.record(
            repo.session,
            repo.principal,
            "user.roles",
            customer=customer,
            target_type="PEOPLE",
            target_id=ids.encode("PEOPLE", user.id, ids.region_of(customer.data_region)),
            target_name=user.email,
            changes={"roles": [before, sorted(chosen)]},
        )
    await flush_or_refuse(repo)
    return customer, user
