"""The audit log's rules: what is recorded (:data:`ACTIONS`), by whom, and who may read it.

:func:`record` adds the row to the session of the action itself, so it is written by the
action's own commit and a failed action leaves no row. The actor comes from the principal
(who), the request (:func:`partnerhub.kit.request_context.origin`: address, user agent,
TrackingID) and, for a name, the signed-in person the portal put in the request's state.
Rows are never changed or deleted (migration 0014's trigger); :func:`purge` is the operator's
retention purge, the one way out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.audit.repository import AuditFilters, AuditRepository
from partnerhub.catalog.roles import AUDIT_READ
from partnerhub.errors import InvalidValue, MissingField, NotFound
from partnerhub.kit.request_context import Origin, origin
from partnerhub.kit.scope import Principal
from partnerhub.models import AuditEvent, Customer
from partnerhub.models.base import utcnow


def N_(message: str) -> str:
    """Marks ``message`` for extraction; the portal translates it when it shows it."""
    return message


# The scope of the vendor's audit API (and the hub's ``partnerhub:admin`` grants it too).
READ = AUDIT_READ
ADMIN = "partnerhub:admin"
MAX_SPAN = timedelta(days=366)

LOGINS = "LOGINS"
FAILED_LOGINS = "FAILED_LOGINS"
ADMINISTRATORS = "ADMINISTRATORS"
API_TOKENS = "API_TOKENS"
TEMPLATES = "TEMPLATES"
SETTINGS = "SETTINGS"
CUSTOMERS = "CUSTOMERS"
USERS = "USERS"
CREDENTIALS = "CREDENTIALS"
SECRETS = "SECRETS"
BILLING = "BILLING"
# The categories, in the order the portal's filter lists them, with their labels.
CATEGORIES: dict[str, str] = {
    LOGINS: N_("Sign-ins"),
    FAILED_LOGINS: N_("Refused sign-ins"),
    ADMINISTRATORS: N_("Administrators and roles"),
    API_TOKENS: N_("API tokens"),
    TEMPLATES: N_("Onboarding templates"),
    SETTINGS: N_("Partner settings"),
    CUSTOMERS: N_("Customers"),
    USERS: N_("Users and numbers"),
    CREDENTIALS: N_("Passwords and second factor"),
    SECRETS: N_("Secrets shown"),
    BILLING: N_("Billing reports"),
}


@dataclass(frozen=True)
class Action:
    category: str
    description: str  # eventDescription (English; the portal translates it)
    text: str  # actionText: "%(actor)s ... %(target)s"


ACTIONS: dict[str, Action] = {
    "signin.success": Action(LOGINS, N_("Signed in"), N_("%(actor)s signed in")),
    "signin.failed": Action(
        FAILED_LOGINS, N_("Sign-in refused"), N_("A sign-in as %(target)s was refused")
    ),
    "signin.sso_refused": Action(
        FAILED_LOGINS,
        N_("Single sign-on refused"),
        N_("A sign-in through the identity provider %(target)s was refused"),
    ),
    "signin.link_refused": Action(
        FAILED_LOGINS,
        N_("E-mailed link refused"),
        N_("An e-mailed link of %(target)s was refused"),
    ),
    "signin.second_factor_failed": Action(
        FAILED_LOGINS,
        N_("Second-factor code refused"),
        N_("A wrong second-factor code was entered for %(target)s"),
    ),
    # Refused by the sign-in throttle (429) before the password or code was checked.
    "signin.throttled": Action(
        FAILED_LOGINS,
        N_("Sign-in refused: too many attempts"),
        N_("A sign-in as %(target)s was refused because of too many attempts"),
    ),
    "account.proof_throttled": Action(
        FAILED_LOGINS,
        N_("Password or code check refused: too many attempts"),
        N_("A password or code check of %(target)s was refused because of too many attempts"),
    ),
    "account.reset_throttled": Action(
        FAILED_LOGINS,
        N_("Password reset refused: too many requests"),
        N_("A password reset for %(target)s was refused because of too many requests"),
    ),
    "admin.create": Action(
        ADMINISTRATORS,
        N_("Administrator added"),
        N_("%(actor)s added the administrator %(target)s"),
    ),
    "admin.update": Action(
        ADMINISTRATORS,
        N_("Administrator changed"),
        N_("%(actor)s changed the administrator %(target)s"),
    ),
    "admin.role": Action(
        ADMINISTRATORS,
        N_("Administrator role changed"),
        N_("%(actor)s changed the role of %(target)s"),
    ),
    "admin.deactivate": Action(
        ADMINISTRATORS,
        N_("Administrator deactivated"),
        N_("%(actor)s deactivated the administrator %(target)s"),
    ),
    "admin.activate": Action(
        ADMINISTRATORS,
        N_("Administrator reactivated"),
        N_("%(actor)s reactivated the administrator %(target)s"),
    ),
    "token.create": Action(
        API_TOKENS, N_("API token created"), N_("%(actor)s created the API token %(target)s")
    ),
    "token.revoke": Action(
        API_TOKENS, N_("API token revoked"), N_("%(actor)s revoked the API token %(target)s")
    ),
    "template.create": Action(
        TEMPLATES, N_("Template created"), N_("%(actor)s created the template %(target)s")
    ),
    "template.update": Action(
        TEMPLATES, N_("Template changed"), N_("%(actor)s changed the template %(target)s")
    ),
    "template.delete": Action(
        TEMPLATES, N_("Template deleted"), N_("%(actor)s deleted the template %(target)s")
    ),
    "settings.update": Action(
        SETTINGS, N_("Partner settings changed"), N_("%(actor)s changed the partner settings")
    ),
    "idp.create": Action(
        SETTINGS,
        N_("Identity provider added"),
        N_("%(actor)s added the identity provider %(target)s"),
    ),
    "idp.update": Action(
        SETTINGS,
        N_("Identity provider changed"),
        N_("%(actor)s changed the identity provider %(target)s"),
    ),
    "idp.delete": Action(
        SETTINGS,
        N_("Identity provider removed"),
        N_("%(actor)s removed the identity provider %(target)s"),
    ),
    "webhook.create": Action(
        SETTINGS, N_("Webhook created"), N_("%(actor)s created the webhook %(target)s")
    ),
    "webhook.update": Action(
        SETTINGS, N_("Webhook changed"), N_("%(actor)s changed the webhook %(target)s")
    ),
    "webhook.delete": Action(
        SETTINGS, N_("Webhook deleted"), N_("%(actor)s deleted the webhook %(target)s")
    ),
    "webhook.test": Action(
        SETTINGS,
        N_("Webhook test event sent"),
        N_("%(actor)s sent a test event to the webhook %(target)s"),
    ),
    "admin.unlock": Action(
        ADMINISTRATORS,
        N_("Administrator unlocked"),
        N_("%(actor)s unlocked the administrator %(target)s"),
    ),
    "billing.report_create": Action(
        BILLING,
        N_("Billing report requested"),
        N_("%(actor)s requested the billing report %(target)s"),
    ),
    "billing.report_delete": Action(
        BILLING,
        N_("Billing report deleted"),
        N_("%(actor)s deleted the billing report %(target)s"),
    ),
    "customer.create": Action(
        CUSTOMERS, N_("Customer created"), N_("%(actor)s created the customer %(target)s")
    ),
    "customer.update": Action(
        CUSTOMERS, N_("Customer changed"), N_("%(actor)s changed the customer %(target)s")
    ),
    "customer.delete": Action(
        CUSTOMERS, N_("Customer deleted"), N_("%(actor)s deleted the customer %(target)s")
    ),
    "customer.approve": Action(
        CUSTOMERS,
        N_("Customer approved for provisioning"),
        N_("%(actor)s approved the customer %(target)s for provisioning"),
    ),
    "subpartner.create": Action(
        CUSTOMERS, N_("Sub-partner created"), N_("%(actor)s created the sub-partner %(target)s")
    ),
    "subpartner.update": Action(
        CUSTOMERS, N_("Sub-partner changed"), N_("%(actor)s changed the sub-partner %(target)s")
    ),
    "subpartner.suspend": Action(
        CUSTOMERS,
        N_("Sub-partner suspended"),
        N_("%(actor)s suspended the sub-partner %(target)s"),
    ),
    "user.add": Action(USERS, N_("User added"), N_("%(actor)s added the user %(target)s")),
    "user.remove": Action(USERS, N_("User removed"), N_("%(actor)s removed the user %(target)s")),
    "user.unlock": Action(USERS, N_("User unlocked"), N_("%(actor)s unlocked the user %(target)s")),
    "user.roles": Action(
        ADMINISTRATORS,
        N_("Customer administrator roles changed"),
        N_("%(actor)s changed the administrator roles of %(target)s"),
    ),
    "user.package": Action(
        USERS, N_("User package changed"), N_("%(actor)s changed the package of %(target)s")
    ),
    "user.moved_away": Action(
        USERS,
        N_("User left for another organization"),
        N_("%(target)s accepted to move to another organization"),
    ),
    "location.create": Action(
        CUSTOMERS, N_("Location added"), N_("%(actor)s added the location %(target)s")
    ),
    "location.update": Action(
        CUSTOMERS, N_("Location changed"), N_("%(actor)s changed the location %(target)s")
    ),
    "location.delete": Action(
        CUSTOMERS, N_("Location deleted"), N_("%(actor)s deleted the location %(target)s")
    ),
    "numbers.remove": Action(
        USERS,
        N_("Phone numbers removed"),
        N_("%(actor)s removed phone numbers from %(target)s"),
    ),
    "assistance.request": Action(
        CUSTOMERS,
        N_("Installation assistance requested"),
        N_("%(actor)s requested installation assistance for %(target)s"),
    ),
    "assistance.status": Action(
        CUSTOMERS,
        N_("Installation request status changed"),
        N_("%(actor)s changed the status of an installation request of %(target)s"),
    ),
    "import.create": Action(
        USERS,
        N_("Subscriber import started"),
        N_("%(actor)s started an import of subscribers into %(target)s"),
    ),
    "numbers.add": Action(
        USERS, N_("Phone numbers added"), N_("%(actor)s added phone numbers to %(target)s")
    ),
    "portal.open": Action(
        CUSTOMERS,
        N_("Customer portal opened by the partner"),
        N_("%(actor)s opened the customer portal of %(target)s"),
    ),
    "account.password": Action(
        CREDENTIALS, N_("Password changed"), N_("%(actor)s changed their password")
    ),
    "account.reset_request": Action(
        CREDENTIALS,
        N_("Password reset requested"),
        N_("A password reset was requested for %(target)s"),
    ),
    "account.password_link": Action(
        CREDENTIALS,
        N_("Password set with an e-mailed link"),
        N_("%(actor)s set their password with an e-mailed link"),
    ),
    "account.totp_on": Action(
        CREDENTIALS,
        N_("Second factor turned on"),
        N_("%(actor)s turned on the second factor"),
    ),
    "account.totp_off": Action(
        CREDENTIALS,
        N_("Second factor turned off"),
        N_("%(actor)s turned off the second factor"),
    ),
    "secret.shown": Action(
        SECRETS, N_("Secret shown"), N_("%(actor)s was shown the secret of %(target)s")
    ),
}

ACTOR_TYPES = ("partner_admin", "token", "customer_admin", "system", "anonymous")

# The log of no organization: a refused sign-in (or a password reset request) with an address
# no account of that form has (docs/audit.md). No partner has this id, so no principal's scope
# reaches it (``Repository.scoped``); the operator reads it (``partnerhub audit unattributed``).
NO_TENANT = uuid.UUID(int=0)


@dataclass(frozen=True)
class Actor:
    type: str
    id: uuid.UUID | None = None
    name: str = ""
    email: str = ""
    org_id: uuid.UUID | None = None
    roles: tuple[str, ...] = ()


def _person_name(person: Any) -> str:
    if person is None:
        return ""
    name = getattr(person, "display_name", None)
    if name:
        return str(name)
    parts = [getattr(person, "first_name", None), getattr(person, "last_name", None)]
    return " ".join(p for p in parts if p)


def actor_of(principal: Principal) -> Actor:
    """Who ``principal`` is, for the log: the signed-in person's name comes from the request's
    state (the portal's ``portal`` context, the customer portal's ``org_access``)."""
    state = origin().state or {}
    if principal.kind == "token":
        return Actor("token", principal.actor_id, org_id=principal.home_partner_id)
    if principal.kind == "system":
        return Actor("system", None, name="PartnerHub", org_id=principal.home_partner_id)
    if principal.kind == "customer_admin":
        access = state.get("org_access")
        user = getattr(access, "user", None)
        return Actor(
            "customer_admin",
            principal.actor_id,
            name=_person_name(user),
            email=principal.actor_email or "",
            org_id=getattr(user, "org_id", None),
            roles=tuple(getattr(user, "roles", None) or ()),
        )
    ctx = state.get("portal")
    admin = getattr(ctx, "admin", None) if ctx is not None else None
    name = _person_name(admin) if admin is not None and admin.id == principal.actor_id else ""
    return Actor(
        "partner_admin",
        principal.actor_id,
        name=name,
        email=principal.actor_email or "",
        org_id=principal.home_partner_id,
        roles=(principal.role,) if principal.role else (),
    )


def admin_actor(admin: Any) -> Actor:
    """A partner administrator acting without a principal yet (signing in)."""
    return Actor(
        "partner_admin",
        admin.id,
        name=_person_name(admin),
        email=admin.email,
        org_id=admin.partner_id,
        roles=(admin.role,),
    )


def org_user_actor(user: Any) -> Actor:
    """A customer's user acting without a principal yet (signing in)."""
    return Actor(
        "customer_admin",
        user.id,
        name=_person_name(user),
        email=user.email,
        org_id=user.org_id,
        roles=tuple(user.roles or ()),
    )


HIDDEN = "(changed)"  # what a secret field shows in a change


def changes_of(
    before: dict[str, Any], after: dict[str, Any], secret: tuple[str, ...] = ()
) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` of the fields whose values differ; a ``secret`` field shows
    only that it changed."""
    out: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            out[key] = [HIDDEN, HIDDEN] if key in secret else [_plain(old), _plain(new)]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return sorted(_plain(v) for v in value)
    return value


def build(
    who: Principal | Actor,
    action: str,
    *,
    partner_id: uuid.UUID | None = None,
    customer: Customer | None = None,
    org_id: uuid.UUID | None = None,
    target_type: str = "",
    target_id: str = "",
    target_name: str = "",
    changes: dict[str, list[Any]] | None = None,
    detail: dict[str, Any] | None = None,
    where: Origin | None = None,
) -> AuditEvent:
    """The audit row of ``action`` (not yet added to a session: :func:`record` adds it; a hot
    path writes it inside its own statement). ``where``: the request's client address, user
    agent and TrackingID, given by a job that records for a request it was deferred by
    (otherwise the current request's)."""
    spec = ACTIONS[action]  # an unknown action is a programming error
    actor = actor_of(who) if isinstance(who, Principal) else who
    if partner_id is None:
        if isinstance(who, Principal):
            partner_id = who.partner_id
        elif customer is not None:
            partner_id = customer.partner_id
        else:
            raise ValueError("partner_id is required for an actor without a principal")
    if customer is not None:
        org_id = customer.org_id or customer.id
    where = where or origin()
    return AuditEvent(
        id=uuid.uuid4(),
        created=utcnow(),
        partner_id=partner_id,
        org_id=org_id or partner_id,
        customer_id=customer.id if customer is not None else None,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_org_id=actor.org_id,
        actor_name=actor.name[:320],
        actor_email=actor.email[:320],
        actor_roles=list(actor.roles),
        actor_ip=where.ip[:64],
        actor_user_agent=where.user_agent,
        tracking_id=where.tracking_id,
        category=spec.category,
        action=action,
        target_type=target_type[:40],
        target_id=target_id[:200],
        target_name=(target_name or "")[:320],
        changes=changes or {},
        detail=detail or {},
    )


def record(session: AsyncSession, who: Principal | Actor, action: str, **kwargs: Any) -> AuditEvent:
    """Add the audit row of ``action`` to ``session``: written by the action's own commit."""
    event = build(who, action, **kwargs)
    AuditRepository.add(session, event)
    return event


def unknown_address_refused(
    session: AsyncSession, email: str, detail: dict[str, Any]
) -> AuditEvent:
    """A refused sign-in with an address nobody has (at that form): in the log of no
    organization (:data:`NO_TENANT`), so no tenant's log (and no answer) tells whether an
    address exists."""
    return unattributed_row(
        session, email, "signin.failed", {**detail, "reason": "unknown_address"}
    )


def unattributed_row(
    session: AsyncSession,
    email: str,
    action: str,
    detail: dict[str, Any],
    where: Origin | None = None,
) -> AuditEvent:
    """``action`` of an anonymous person who typed ``email``, an address no account of that
    form has, in the log of no organization (:data:`NO_TENANT`)."""
    typed = (email or "").strip()[:320]
    return record(
        session,
        Actor("anonymous", email=typed),
        action,
        partner_id=NO_TENANT,
        target_type="PEOPLE",
        target_name=typed,
        detail=detail,
        where=where,
    )


def admin_created(
    session: AsyncSession, who: Principal | Actor, admin: Any, changes: Any, **kwargs: Any
) -> AuditEvent:
    """The audit row of a partner administrator's creation (of the partner or a sub-partner)."""
    return record(
        session,
        who,
        "admin.create",
        target_type="PEOPLE",
        target_id=str(admin.id),
        target_name=admin.email,
        changes=changes,
        **kwargs,
    )


# --- reading ---------------------------------------------------------------------------------


def categories() -> list[str]:
    return list(CATEGORIES)


def parse_categories(raw: list[str]) -> list[str]:
    out: list[str] = []
    for item in raw:
        for name in item.split(","):
            name = name.strip().upper()
            if not name:
                continue
            if name not in CATEGORIES:
                raise InvalidValue(
                    f"eventCategories: '{name[:60]}' is not one of {', '.join(CATEGORIES)}",
                    field="eventCategories",
                )
            out.append(name)
    return sorted(set(out))


def check_span(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if start is None:
        raise MissingField("from: is required", field="from")
    if end is None:
        raise MissingField("to: is required", field="to")
    if end < start:
        raise InvalidValue("to: must not be before from", field="to")
    if end - start > MAX_SPAN:
        raise InvalidValue("to: at most one year after from", field="to")
    return start, end


async def org_scope(
    repo: AuditRepository, org_ref: str | None
) -> tuple[AuditRepository, AuditFilters]:
    """The rows an ``orgId`` names, and the repository that reads them: the acting partner's
    own (its id) or one of its customers'; a direct sub-partner's own or one of that
    sub-partner's customers' (read through the repository scoped to the sub-partner). A
    parent's, a sibling's or another tenant's organization, or an id that is not one: 404."""
    if not org_ref:
        raise MissingField("orgId: is required", field="orgId")
    org = ids.decode("ORGANIZATION", org_ref)
    if org is None:
        raise NotFound("Organization not found")
    if org == repo.principal.partner_id:
        return repo, AuditFilters(partner_level=True)
    customer_id = await repo.customer_of_org(org)
    if customer_id is not None:
        return repo, AuditFilters(customer_id=customer_id)
    sub = await repo.sub_partner(org)
    if sub is not None:
        return repo.for_partner(sub), AuditFilters(partner_level=True)
    sub = await repo.sub_partner_of_customer_org(org)
    if sub is not None:
        inside = repo.for_partner(sub)
        customer_id = await inside.customer_of_org(org)
        if customer_id is not None:
            return inside, AuditFilters(customer_id=customer_id)
    raise NotFound("Organization not found")


def require_reader(principal: Principal) -> None:
    """Reading an audit log: a partner's readers hold ``audit:events_read`` or
    ``partnerhub:admin`` (full, ordinary and read-only administrators and tokens with the scope,
    not sales) — through the API, the partner portal's pages (the Audit log, a customer's
    History) and the customer portal's, where a partner administrator acts with their partner
    role's scope; a customer's administrators read their own organization's log (the customer
    portal hands them only their organization)."""
    if principal.kind == "customer_admin":
        return
    principal.require(READ, ADMIN)


async def list_events(
    repo: AuditRepository,
    org_ref: str | None,
    start: datetime | None,
    end: datetime | None,
    *,
    actor_ref: str | None,
    event_categories: list[str],
    offset: int,
    limit: int,
) -> tuple[AuditRepository, list[AuditEvent]]:
    """One page of the organization's rows, and the repository (scoped to the partner whose
    rows they are) that presents them."""
    require_reader(repo.principal)
    repo, filters = await org_scope(repo, org_ref)
    filters.start, filters.end = check_span(start, end)
    filters.categories = parse_categories(event_categories)
    if actor_ref:
        filters.actor_id = _actor_uuid(actor_ref)
        if filters.actor_id is None:
            return repo, []
    return repo, await repo.page(filters, offset, limit)


def _actor_uuid(ref: str) -> uuid.UUID | None:
    for kind in ("PEOPLE", "API_TOKEN", "SUBSCRIBER"):
        found = ids.decode(kind, ref)
        if found is not None:
            return found
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


async def history(
    repo: AuditRepository,
    *,
    customer_id: uuid.UUID | None,
    category: str | None = None,
    actor: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[AuditEvent]:
    """The portal's readable history: one customer's rows, or (``customer_id`` None) the
    partner's own; ``actor`` is a part of the actor's name or e-mail."""
    require_reader(repo.principal)
    filters = (
        AuditFilters(customer_id=customer_id)
        if customer_id is not None
        else AuditFilters(partner_level=True)
    )
    if category:
        filters.categories = parse_categories([category])
    filters.actor_text = (actor or "").strip()[:200] or None
    return await repo.page(filters, offset, limit)


async def sub_partner_repo(repo: AuditRepository, org_ref: str) -> AuditRepository:
    """The repository that reads the log of the acting partner's direct sub-partner
    ``org_ref`` (its ``orgId``); anything else is 404."""
    org = ids.decode("ORGANIZATION", org_ref.strip())
    sub = await repo.sub_partner(org) if org is not None else None
    if sub is None:
        raise NotFound("Organization not found")
    return repo.for_partner(sub)


async def sub_partner_choices(repo: AuditRepository) -> list[tuple[str, str]]:
    """``(orgId, name)`` of the acting partner's direct sub-partners, whose logs it reads."""
    return [
        (ids.encode("ORGANIZATION", partner_id, ids.HUB), name)
        for partner_id, name in await repo.sub_partner_names()
    ]


async def unattributed(
    session: AsyncSession, newer_than: timedelta, limit: int = 1000
) -> list[AuditEvent]:
    """The operator's view of the log of no organization (``partnerhub audit unattributed``):
    refused sign-ins and reset requests of addresses nobody has, newest first."""
    return await AuditRepository.unattributed(session, NO_TENANT, utcnow() - newer_than, limit)


async def purge(session: AsyncSession, older_than: timedelta) -> int:
    """The operator's retention purge (``partnerhub audit purge``): every row older than
    ``older_than``, across partners. The only deletion the trigger lets through."""
    if older_than < timedelta(days=30):
        raise InvalidValue("older-than: at least 30 days", field="older_than")
    return await AuditRepository.purge(session, utcnow() - older_than)


# --- presenting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One row as people read it (the API's ``data`` and the portal's history)."""

    event: AuditEvent
    actor_name: str
    actor_org_name: str
    target_org_id: str
    target_org_name: str
    region: str = ids.HUB
    token_name: str | None = None  # an API token actor's name (the portal words "API token")


TOKEN_ACTOR = N_("API token %(name)s")


def action_text(event: AuditEvent, actor_name: str, gettext: Any = None) -> str:
    """``actionText``: the sentence of the action, in English or through ``gettext``."""
    spec = ACTIONS.get(event.action)
    template = spec.text if spec else event.action
    if gettext is not None:
        template = gettext(template)
    target = event.target_name or event.target_id or ""
    return template % {"actor": actor_name or "?", "target": target}


def description(event: AuditEvent) -> str:
    spec = ACTIONS.get(event.action)
    return spec.description if spec else event.action


async def shown(repo: AuditRepository, rows: list[AuditEvent]) -> list[Shown]:
    tokens = await repo.token_names(
        {r.actor_id for r in rows if r.actor_type == "token" and r.actor_id}
    )
    customers = await repo.customers({r.customer_id for r in rows if r.customer_id})
    partners = await repo.partner_names({r.partner_id for r in rows})
    out: list[Shown] = []
    for row in rows:
        name = row.actor_name or row.actor_email
        token_name = None
        if row.actor_type == "token":
            token_name = tokens.get(row.actor_id or uuid.UUID(int=0), "")
            name = (TOKEN_ACTOR % {"name": token_name}).strip()
        customer = customers.get(row.customer_id) if row.customer_id else None
        region = ids.region_of(customer.data_region) if customer is not None else ids.HUB
        if customer is not None:
            org_ref = ids.encode("ORGANIZATION", row.org_id, region)
            org_name = customer.name or customer.external_id
        else:
            org_ref = ids.encode("ORGANIZATION", row.org_id, ids.HUB)
            org_name = partners.get(row.org_id, "") if row.customer_id is None else ""
        if row.actor_type == "customer_admin":
            actor_org = org_name
        else:
            actor_org = partners.get(row.actor_org_id or row.partner_id, "")
        out.append(Shown(row, name, actor_org, org_ref, org_name, region, token_name))
    return out


def _actor_ref(event: AuditEvent, region: str) -> str:
    if event.actor_id is None:
        return ""
    if event.actor_type == "token":
        return ids.encode("API_TOKEN", event.actor_id, ids.HUB)
    if event.actor_type == "customer_admin":
        return ids.encode("PEOPLE", event.actor_id, region)
    return ids.encode("PEOPLE", event.actor_id, ids.HUB)


async def present(repo: AuditRepository, rows: list[AuditEvent]) -> list[Any]:
    from partnerhub.audit.schemas import AuditEventData, AuditEventOut

    out = []
    for item in await shown(repo, rows):
        e = item.event
        region = item.region if e.actor_type == "customer_admin" else ids.HUB
        actor_org = ids.encode("ORGANIZATION", e.actor_org_id, region) if e.actor_org_id else ""
        out.append(
            AuditEventOut(
                id=ids.encode("AUDIT_EVENT", e.id, ids.HUB),
                created=e.created,
                actor_id=_actor_ref(e, item.region),
                actor_org_id=actor_org,
                data=AuditEventData(
                    actor_name=item.actor_name,
                    actor_email=e.actor_email,
                    actor_org_name=item.actor_org_name,
                    admin_roles=list(e.actor_roles or []),
                    actor_ip=e.actor_ip,
                    actor_user_agent=e.actor_user_agent,
                    tracking_id=e.tracking_id,
                    target_type=e.target_type,
                    target_id=e.target_id,
                    target_name=e.target_name,
                    target_org_id=item.target_org_id,
                    target_org_name=item.target_org_name,
                    event_category=e.category,
                    event_description=description(e),
                    action_text=action_text(e, item.actor_name),
                    changes=e.changes or {},
                    action=e.action,
                ),
            )
        )
    return out
