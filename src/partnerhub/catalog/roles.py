"""Partner administrator roles and API scopes (data, not code paths)."""

from __future__ import annotations

from dataclasses import dataclass

READ_SCOPES: tuple[str, ...] = (
    "spark-admin:wholesale_customers_read",
    "spark-admin:wholesale_subscribers_read",
    "spark-admin:wholesale_billing_reports_read",
    "spark-admin:wholesale_sub_partners_read",
    "partnerhub:templates_read",
    "partnerhub:locations_read",
    "partnerhub:numbers_read",
)
WRITE_SCOPES: tuple[str, ...] = (
    "spark-admin:wholesale_customers_write",
    "spark-admin:wholesale_subscribers_write",
    "spark-admin:wholesale_billing_reports_write",
    "partnerhub:templates_write",
    "partnerhub:locations_write",
    "partnerhub:numbers_write",
)
ADMIN_SCOPE = "partnerhub:admin"
# Creating, suspending and staffing sub-partners (hub API): full administrators only. It implies
# reading them (``spark-admin:wholesale_sub_partners_read``, see :func:`implied`).
SUB_PARTNERS_WRITE = "partnerhub:sub_partners_write"
SUB_PARTNERS_READ = "spark-admin:wholesale_sub_partners_read"
# Reading the audit log (the vendor's scope, CONTRACT section 9): full, ordinary and read-only
# administrators (not sales); ``partnerhub:admin`` grants it too (audit.service.READ).
AUDIT_READ = "audit:events_read"
# Sales may run prechecks (which otherwise need a _write scope) without being able to write.
PRECHECK_SCOPE = "partnerhub:precheck"
ALL_SCOPES: tuple[str, ...] = (
    *READ_SCOPES,
    *WRITE_SCOPES,
    SUB_PARTNERS_WRITE,
    ADMIN_SCOPE,
    PRECHECK_SCOPE,
    AUDIT_READ,
)

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "spark-admin:wholesale_customers_read": "Read customers and their provisioning status.",
    "spark-admin:wholesale_subscribers_read": "Read subscribers and customer administrators.",
    "spark-admin:wholesale_billing_reports_read": "Read and download billing reports.",
    "spark-admin:wholesale_sub_partners_read": "Read sub-partners.",
    "partnerhub:templates_read": "Read onboarding templates.",
    "partnerhub:locations_read": "Read customer locations.",
    "partnerhub:numbers_read": "Read phone numbers and their assignments.",
    "spark-admin:wholesale_customers_write": "Create, change and delete customers.",
    "spark-admin:wholesale_subscribers_write": "Add, change and remove subscribers and roles.",
    "spark-admin:wholesale_billing_reports_write": "Request and delete billing reports.",
    "partnerhub:templates_write": "Create, change and delete onboarding templates.",
    "partnerhub:locations_write": "Create, change and delete customer locations.",
    "partnerhub:numbers_write": "Add and remove phone numbers of locations.",
    SUB_PARTNERS_WRITE: "Create, suspend and staff sub-partners.",
    ADMIN_SCOPE: "Manage administrators, API tokens, webhooks and the audit log.",
    PRECHECK_SCOPE: "Run prechecks without write access.",
    AUDIT_READ: "Read the audit log of the partner and its customers.",
}
"""What each scope allows, shown beside it (API-token page, ``partnerhub token create``)."""


def implied(scopes: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    """The scopes a set grants: a ``_write`` scope implies its ``_read`` (the hub's
    ``partnerhub:sub_partners_write`` implies the vendor's sub-partner read scope)."""
    out = set(scopes)
    for scope in scopes:
        if scope == SUB_PARTNERS_WRITE:
            out.add(SUB_PARTNERS_READ)
        elif scope.endswith("_write"):
            out.add(scope.removesuffix("_write") + "_read")
    return frozenset(out)


@dataclass(frozen=True)
class PartnerRole:
    name: str
    label: str
    scopes: frozenset[str]
    manages_admins: bool


PARTNER_ROLES: dict[str, PartnerRole] = {
    "full_admin": PartnerRole(
        "full_admin", "Full administrator", frozenset(ALL_SCOPES), manages_admins=True
    ),
    "admin": PartnerRole(
        "admin",
        "Administrator",
        frozenset((*READ_SCOPES, *WRITE_SCOPES, PRECHECK_SCOPE, AUDIT_READ)),
        manages_admins=False,
    ),
    "read_only": PartnerRole(
        "read_only",
        "Read-only administrator",
        frozenset((*READ_SCOPES, AUDIT_READ)),
        manages_admins=False,
    ),
    "sales": PartnerRole(
        "sales",
        "Sales administrator",
        frozenset((*READ_SCOPES, PRECHECK_SCOPE)),
        manages_admins=False,
    ),
}
