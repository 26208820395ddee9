"""Administrator roles inside a customer organization as data.

These are the roles a partner gives to users of a customer organization (``org_users.roles``);
they are not the partner's own administrator roles (:mod:`partnerhub.catalog.roles`).

Every administrator role is subject to the tier rule (CONTRACT error 1011): its holder's
package must rank at least as high as the organization's creation package
(:func:`partnerhub.catalog.packages.tier`); and a user holding a role with
``package_locked`` (the full administrator) can never have its package lowered.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["CUSTOMER_ROLES", "FULL_ADMIN", "CustomerRole", "is_role", "role_label"]


@dataclass(frozen=True, slots=True)
class CustomerRole:
    """One role of a customer organization.

    ``manages_users``: may add, change and remove users; ``manages_settings``: may change the
    organization's settings; ``read_only``: sees everything, changes nothing;
    ``package_locked``: the holder's package may never be lowered.
    """

    name: str
    label: str
    description: str
    manages_users: bool = False
    manages_settings: bool = False
    read_only: bool = False
    package_locked: bool = False


FULL_ADMIN: Final = "full_admin"

CUSTOMER_ROLES: Final[MappingProxyType[str, CustomerRole]] = MappingProxyType(
    {
        r.name: r
        for r in (
            CustomerRole(
                FULL_ADMIN,
                "Full administrator",
                "Every setting and every user of the organization.",
                manages_users=True,
                manages_settings=True,
                package_locked=True,
            ),
            CustomerRole(
                "user_admin",
                "User administrator",
                "Adds, changes and removes users and their licenses.",
                manages_users=True,
            ),
            CustomerRole(
                "read_only_admin",
                "Read-only administrator",
                "Sees every setting and user, changes nothing.",
                read_only=True,
            ),
            CustomerRole(
                "support_admin",
                "Support administrator",
                "Troubleshooting: reports, logs and the users' devices.",
                read_only=True,
            ),
            CustomerRole(
                "location_admin",
                "Location administrator",
                "Users, numbers and calling settings of the organization's locations.",
                manages_users=True,
            ),
        )
    }
)
"""Every customer-organization role by name, in display order."""


def is_role(name: object) -> bool:
    return isinstance(name, str) and name in CUSTOMER_ROLES


def role_label(name: str) -> str:
    role = CUSTOMER_ROLES.get(name)
    return role.label if role is not None else name
