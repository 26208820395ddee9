"""The administrators of a customer organization and their roles.

Administrator roles are given to users of the organization (an empty list makes one a plain
user again); a subscriber waiting for its user's consent cannot be one, and an administrator
holds at least the package tier the organization was created with (:func:`rules.check_admin_tier`).
"""

from __future__ import annotations

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.errors import InvalidValue
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
