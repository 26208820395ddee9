"""Who may do what in the customer administrators' portal, as one table.

Two kinds of people reach ``/org/{customer}/...``:

* a user of that organization signed in to the customer portal (``org_sessions``), with the
  administrator roles the partner or a full administrator gave them (``org_users.roles``);
  another organization's pages are not found (404), and a user without any administrator role
  is not let in (403);
* an administrator of the organization's partner, signed in to the partner portal: they see the
  same pages with a banner naming the organization, act as a full administrator (a read-only or
  sales partner administrator as a read-only one), and every action is recorded with them as
  the actor.

:data:`PERMISSIONS` decides every page and action from the roles' flags in
``catalog/customer_roles.py``: read-only roles see, roles that manage users manage users, the
full administrator (who manages settings) may do everything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog.customer_roles import CUSTOMER_ROLES, FULL_ADMIN, CustomerRole
from partnerhub.catalog.roles import PARTNER_ROLES
from partnerhub.customer_portal.repository import CustomerPortalRepository
from partnerhub.errors import Forbidden, NotFound
from partnerhub.identity import org_auth
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import unit_of_work
from partnerhub.models import Customer, OrgUser, PartnerAdmin
from partnerhub.portal import session as portal

# action -> which roles may do it (decided by the role's flags, never by its name).
PERMISSIONS: dict[str, Callable[[CustomerRole], bool]] = {
    "view": lambda role: True,
    "manage_users": lambda role: role.manages_users,
    "unlock_users": lambda role: role.manages_users,
    "manage_admins": lambda role: role.manages_settings,
}
# The customer role a partner administrator acts with, by partner role.
PARTNER_ROLE_AS = {
    "full_admin": FULL_ADMIN,
    "admin": FULL_ADMIN,
    "read_only": "read_only_admin",
    "sales": "read_only_admin",
}
# API scopes the domain services check, by action: the principal handed to them holds only
# those of the actions the person may do.
SCOPES_OF = {
    "view": (
        "spark-admin:wholesale_subscribers_read",
        "spark-admin:wholesale_customers_read",
        "partnerhub:locations_read",
        "partnerhub:numbers_read",
    ),
    "manage_users": ("spark-admin:wholesale_subscribers_write",),
    "manage_admins": ("spark-admin:wholesale_subscribers_write",),
}


def admin_roles(user: OrgUser) -> tuple[str, ...]:
    return tuple(r for r in (user.roles or []) if r in CUSTOMER_ROLES)


def allowed(roles: tuple[str, ...], action: str) -> bool:
    rule = PERMISSIONS[action]
    return any(rule(CUSTOMER_ROLES[r]) for r in roles)


@dataclass(frozen=True)
class OrgContext:
    customer: Customer
    roles: tuple[str, ...]
    csrf_token: str
    org_user: OrgUser | None = None
    partner_admin: PartnerAdmin | None = None
    # The organization's partner (for a partner administrator: the administrator's partner) is
    # a suspended sub-partner: the person may only look (portal.session.SUSPENDED_MESSAGE).
    suspended: bool = False

    @property
    def ref(self) -> str:
        return ids.encode("CUSTOMER", self.customer.id, ids.region_of(self.customer.data_region))

    @property
    def actor_email(self) -> str:
        person = self.org_user or self.partner_admin
        return person.email if person else ""

    @property
    def acting_partner(self) -> bool:
        return self.partner_admin is not None

    def can(self, action: str) -> bool:
        if self.suspended and action != "view":
            return False
        return allowed(self.roles, action)

    def require(self, action: str) -> None:
        if self.suspended and action != "view":
            raise Forbidden(portal.SUSPENDED_MESSAGE)
        if not self.can(action):
            raise Forbidden("Your administrator role does not allow this")

    @property
    def principal(self) -> Principal:
        scopes = {s for action, granted in SCOPES_OF.items() if self.can(action) for s in granted}
        if (
            self.partner_admin is not None
            and audit.READ in PARTNER_ROLES[self.partner_admin.role].scopes
        ):
            # a partner administrator reads the organization's log with their own role's
            # audit scope (audit.service.require_reader): not a sales administrator
            scopes.add(audit.READ)
        person = self.org_user or self.partner_admin
        return Principal(
            kind="customer_admin" if self.org_user else "admin",
            partner_id=self.customer.partner_id,
            home_partner_id=self.customer.partner_id,
            actor_id=person.id if person else None,
            actor_email=self.actor_email,
            role=self.roles[0] if self.roles else None,
            scopes=frozenset(scopes),
        )

    def check_form(self, form: Any) -> None:
        import hmac

        sent = str(form.get("csrf_token") or "")
        if not self.csrf_token or not hmac.compare_digest(sent.encode(), self.csrf_token.encode()):
            raise portal.CsrfFailed()


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)


async def resolve(request: Request, customer_ref: str) -> OrgContext | Response:
    """The person's context in this organization, or a redirect to sign in.

    Raises NotFound for an organization the person cannot reach (another customer, another
    partner's customer, or an id that is not one) and Forbidden for a user without an
    administrator role.
    """
    customer_id = ids.decode("CUSTOMER", customer_ref)
    async with unit_of_work(request) as db:
        access = await org_auth.load_session(db, request.cookies.get(org_auth.ORG_COOKIE))
    if access is not None and not access.session.second_factor_pending:
        if customer_id is None or customer_id != access.customer.id:
            raise NotFound("Page not found")
        roles = admin_roles(access.user)
        if not roles:
            raise Forbidden("Your account has no administrator role in this organization")
        request.state.org_access = access
        # The organization's partner is a suspended sub-partner: its customers' administrators
        # look only, as the sub-partner's own do (nothing is provisioned on its account).
        suspended = await portal.partner_suspended(request, access.customer.partner_id)
        return OrgContext(
            access.customer,
            roles,
            access.session.csrf_token,
            org_user=access.user,
            suspended=suspended,
        )
    ctx = await portal.load(request)
    if ctx.admin is not None and ctx.session is not None:
        async with unit_of_work(request) as db:
            # Scoped to the administrator's own partner (ctx.principal.partner_id).
            repo = CustomerPortalRepository(db, ctx.principal)
            customer = await repo.customer(customer_id) if customer_id else None
        if customer is None:
            raise NotFound("Page not found")
        role = PARTNER_ROLE_AS.get(ctx.admin.role, "read_only_admin")
        suspended = await portal.partner_suspended(request, ctx.admin.partner_id)
        return OrgContext(
            customer,
            (role,),
            ctx.session.csrf_token,
            partner_admin=ctx.admin,
            suspended=suspended,
        )
    return sign_in_redirect(request)


def record(
    db: AsyncSession,
    ctx: OrgContext,
    action: str,
    target: dict[str, Any] | None = None,
    changes: dict[str, list[Any]] | None = None,
) -> None:
    """Write the action to the organization's audit log (its history), naming who did it: the
    organization's administrator, or the partner administrator acting in its portal."""
    detail = dict(target or {})
    if ctx.org_user is not None:
        actor = audit.org_user_actor(ctx.org_user)
    else:
        assert ctx.partner_admin is not None
        actor = audit.admin_actor(ctx.partner_admin)
    region = ids.region_of(ctx.customer.data_region)
    if "userId" in detail:
        user_id = uuid.UUID(str(detail.pop("userId")))
        kind, ref, name = "PEOPLE", ids.encode("PEOPLE", user_id, region), detail.get("email", "")
    elif "locationId" in detail:
        location_id = uuid.UUID(str(detail.pop("locationId")))
        kind, ref, name = "LOCATION", ids.encode("LOCATION", location_id, region), ""
    elif action.startswith("account.") and actor.id is not None:
        kind, ref, name = "PEOPLE", ids.encode("PEOPLE", actor.id, region), ctx.actor_email
    else:
        org = ctx.customer.org_id or ctx.customer.id
        kind, ref = "ORGANIZATION", ids.encode("ORGANIZATION", org, region)
        name = ctx.customer.name or ""
    audit.record(
        db,
        actor,
        action,
        customer=ctx.customer,
        target_type=kind,
        target_id=ref,
        target_name=str(name or ""),
        changes=changes,
        detail=detail,
    )
