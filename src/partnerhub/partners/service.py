"""Rules for sub-partners.

* ``onBehalfOfSubPartnerOrgId`` is the opaque organization id of a sub-partner,
  ``ids.encode("ORGANIZATION", partner.id)`` (what ``GET /v1/wholesale/subPartners`` returns
  as ``orgId``). It switches the principal to the sub-partner after checking that it is a
  direct child of the caller's partner; anything else is 404 (no hint whether it exists).
* A suspended sub-partner (``provisioning_state == 'suspended'``) may read and delete, but not
  provision, update or precheck: 403 (errorCode 1300). This holds whether the parent acts for
  it or the sub-partner uses its own credential.
* Creating partners is a supported operation: :func:`create_partner` is the operator's (the
  ``partnerhub partner create`` command, the tests' factory) and :func:`create_sub_partner` a
  partner's (hub API and portal, scope ``partnerhub:sub_partners_write``). Both check the name
  and the first full administrator's email (valid, and no identity's yet: 409 errorCode 10022)
  and write the partner and its administrator in the caller's one transaction.
* A parent manages its direct sub-partners only: their state (suspend, reactivate), name and
  administrators. A new administrator of a sub-partner has no password; an invitation link
  (:mod:`partnerhub.partners.invitations`) goes to their own mailbox, never to the parent.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog.roles import (
    ADMIN_SCOPE,
    PARTNER_ROLES,
    SUB_PARTNERS_READ,
    SUB_PARTNERS_WRITE,
)
from partnerhub.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidValue,
    MissingField,
    NotFound,
)
from partnerhub.identity.service import DOMAIN_FAMILY_CONSTRAINT, domain_of_another_family
from partnerhub.kit.constraints import constraint_errors
from partnerhub.kit.scope import Principal
from partnerhub.kit.validators import check_email, normalize_email
from partnerhub.models import Partner, PartnerAdmin
from partnerhub.partners.repository import OperatorRepository, PartnerRepository, email_in_use

STATES = ("active", "suspended")
SUSPENDED = "suspended"
# Methods a suspended sub-partner may still use.
ALLOWED_WHEN_SUSPENDED = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def org_id(partner: Partner) -> str:
    return ids.encode("ORGANIZATION", partner.id, ids.HUB)


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
        principal = principal.acting_for(sub.id, suspended=sub.provisioning_state == SUSPENDED)
    return refuse_if_suspended(principal, method)


async def suspended_sub_partner(session: AsyncSession, partner_id: uuid.UUID) -> bool:
    """True when the partner is a sub-partner whose provisioning state is ``suspended``."""
    partner = await OperatorRepository(session).partner(partner_id)
    return (
        partner is not None
        and partner.parent_id is not None
        and partner.provisioning_state == SUSPENDED
    )


def refuse_if_suspended(principal: Principal, method: str) -> Principal:
    """A suspended sub-partner may read and delete only (403 otherwise)."""
    if principal.suspended and method.upper() not in ALLOWED_WHEN_SUSPENDED:
        raise Forbidden("The sub-partner is suspended: it can only delete customers")
    return principal


def _check_state(state: str) -> str:
    cleaned = state.strip().lower()
    if cleaned not in STATES:
        raise InvalidValue(
            f"provisioningState: '{state}' is not allowed (active, suspended)",
            field="provisioningState",
        )
    return cleaned


async def list_sub_partners(
    repo: PartnerRepository, state: str | None, offset: int, limit: int
) -> list[Partner]:
    repo.principal.require(SUB_PARTNERS_READ)
    if state is not None:
        state = _check_state(state)
    return await repo.sub_partners(state, offset, limit)


# --- creating partners and sub-partners ------------------------------------------------------

NAME_MAX = 200
SUBSCRIPTION_MAX = 100
EMAIL_TAKEN_CODE = 10022  # CONTRACT section 6: the email already belongs to a user
FIRST_ADMIN_ROLE = "full_admin"


@dataclass
class NewPartner:
    """A partner to create, with its first full administrator."""

    name: str
    admin_email: str
    admin_name: str = ""
    parent_id: uuid.UUID | None = None
    subscription_id: str | None = None
    billing_start_date: datetime | None = None
    pstn_providers: list[str] = field(default_factory=list)
    hosted_calling: bool = False
    provisioning_state: str = "active"


@dataclass(frozen=True)
class CreatedPartner:
    partner: Partner
    admin: PartnerAdmin


def _check_name(raw: str | None) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise MissingField("name: the partner name is required", field="name")
    if len(name) > NAME_MAX:
        raise InvalidValue(f"name: at most {NAME_MAX} characters", field="name")
    return name


def _check_admin_email(raw: str | None, wire: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise MissingField(f"{wire}: is required", field=wire)
    normalized = normalize_email(text)
    if normalized is None:
        raise InvalidValue(f"{wire}: '{text}' is not a valid email address", field=wire)
    return normalized


async def _check_email_free(session: AsyncSession, email: str, wire: str) -> None:
    if await email_in_use(session, email):
        raise Conflict(
            f"{wire}: '{email}' already belongs to a user",
            code=EMAIL_TAKEN_CODE,
            field=wire,
        )


def _check_display_name(raw: str | None, wire: str) -> str:
    name = " ".join((raw or "").split())
    if len(name) > NAME_MAX:
        raise InvalidValue(f"{wire}: at most {NAME_MAX} characters", field=wire)
    return name


def _check_subscription(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if len(text) > SUBSCRIPTION_MAX:
        raise InvalidValue(
            f"subscriptionId: at most {SUBSCRIPTION_MAX} characters", field="subscriptionId"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidValue("subscriptionId: control characters are not allowed")
    return text or None


def _check_billing_start(value: datetime | None) -> datetime | None:
    """A UTC time (a time without offset is taken as UTC)."""
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidValue(
            "billingStartDate: not a representable time", field="billingStartDate"
        ) from None
    if value.year < 1970:
        raise InvalidValue("billingStartDate: before 1970", field="billingStartDate")
    return value


async def create_partner(
    session: AsyncSession,
    new: NewPartner,
    *,
    password: str | None = None,
    password_hash: str | None = None,
) -> CreatedPartner:
    """Create a partner (a sub-partner when ``new.parent_id`` is set) and its first full
    administrator, in the caller's transaction (the operator's rule: any parent).

    The administrator's password is ``password`` (checked for strength), or an already
    computed ``password_hash``, or none at all: they then sign in after following an
    invitation link (:mod:`partnerhub.partners.invitations`)."""
    from partnerhub.identity.org_auth import check_password_strength
    from partnerhub.identity.service import hash_password

    name = _check_name(new.name)
    email = _check_admin_email(new.admin_email, "administrator.email")
    admin_name = _check_display_name(new.admin_name, "administrator.displayName")
    state = _check_state(new.provisioning_state)
    subscription = _check_subscription(new.subscription_id)
    billing_start = _check_billing_start(new.billing_start_date)
    providers = _clean_providers(new.pstn_providers)
    if password is not None:
        check_password_strength(password, email)
    repo = OperatorRepository(session)
    parent = None
    if new.parent_id is not None:
        parent = await repo.partner(new.parent_id)
        if parent is None:
            raise NotFound("parent: no partner has this id", field="parent")
    await _check_email_free(session, email, "administrator.email")
    settings: dict[str, Any] = {
        "pstnProviders": providers,
        "offers": {"wholesale": True, "hostedCalling": bool(new.hosted_calling)},
    }
    if billing_start is not None:
        settings["billingStartDate"] = billing_start.isoformat()
    partner = Partner(
        id=uuid.uuid4(),
        name=name,
        parent_id=parent.id if parent else None,
        provisioning_state=state,
        subscription_id=subscription or (parent.subscription_id if parent else None),
        settings=settings,
    )
    repo.add(partner)
    await repo.flush()
    digest = hash_password(password) if password is not None else password_hash
    admin = await _add_admin(session, partner, email, admin_name, FIRST_ADMIN_ROLE, digest)
    return CreatedPartner(partner, admin)


async def _add_admin(
    session: AsyncSession,
    partner: Partner,
    email: str,
    display_name: str,
    role: str,
    password_hash: str | None,
) -> PartnerAdmin:
    """Write an administrator of *partner* (checked by the caller)."""
    admin = PartnerAdmin(
        id=uuid.uuid4(),
        partner_id=partner.id,
        email=email,
        display_name=display_name,
        role=role,
        password_hash=password_hash,
    )
    session.add(admin)
    with constraint_errors({DOMAIN_FAMILY_CONSTRAINT: domain_of_another_family(email)}):
        await session.flush()
    return admin


async def create_sub_partner(repo: PartnerRepository, new: NewPartner) -> CreatedPartner:
    """A partner creates a sub-partner of its own (the acting partner is the parent), with a
    first full administrator who has no password yet (the caller sends the invitation)."""
    repo.principal.require(SUB_PARTNERS_WRITE)
    refuse_if_suspended(repo.principal, "POST")
    wanted = replace(new, parent_id=repo.principal.partner_id, provisioning_state="active")
    created = await create_partner(repo.session, wanted)
    _log_sub(
        repo,
        created.partner,
        "subpartner.create",
        audit.changes_of({}, {"name": created.partner.name, "administrator": created.admin.email}),
    )
    return created


async def get_sub_partner(repo: PartnerRepository, sub_id: uuid.UUID | None) -> Partner:
    repo.principal.require(SUB_PARTNERS_READ)
    sub = await repo.sub_partner(sub_id) if sub_id is not None else None
    if sub is None:
        raise NotFound("No sub-partner of yours has this organization id")
    return sub


async def sub_partner_to_change(repo: PartnerRepository, sub_id: uuid.UUID | None) -> Partner:
    """A direct sub-partner the caller may change (``partnerhub:sub_partners_write``)."""
    repo.principal.require(SUB_PARTNERS_WRITE)
    sub = await repo.sub_partner(sub_id, lock=True) if sub_id is not None else None
    if sub is None:
        raise NotFound("No sub-partner of yours has this organization id")
    return sub


async def update_sub_partner(
    repo: PartnerRepository,
    sub_id: uuid.UUID | None,
    *,
    name: str | None = None,
    state: str | None = None,
) -> Partner:
    """Rename, suspend (``suspended``) or reactivate (``active``) a direct sub-partner. A
    suspended sub-partner may only read and delete (see the module docstring)."""
    sub = await sub_partner_to_change(repo, sub_id)
    new_name = _check_name(name) if name is not None else None
    new_state = _check_state(state) if state is not None else None
    before = {"name": sub.name, "provisioningState": sub.provisioning_state}
    if new_name is not None:
        sub.name = new_name
    if new_state is not None:
        sub.provisioning_state = new_state
    changes = audit.changes_of(
        before, {"name": sub.name, "provisioningState": sub.provisioning_state}
    )
    if changes:
        suspended = changes.get("provisioningState", [None, None])[1] == "suspended"
        _log_sub(repo, sub, "subpartner.suspend" if suspended else "subpartner.update", changes)
    await repo.session.flush()
    return sub


def _log_sub(
    repo: PartnerRepository, sub: Partner, action: str, changes: dict[str, list[Any]]
) -> None:
    audit.record(
        repo.session,
        repo.principal,
        action,
        target_type="ORGANIZATION",
        target_id=org_id(sub),
        target_name=sub.name,
        changes=changes,
    )


async def list_sub_partner_admins(
    repo: PartnerRepository, sub_id: uuid.UUID | None
) -> list[PartnerAdmin]:
    sub = await get_sub_partner(repo, sub_id)
    return await repo.sub_partner_admins(sub.id)


def _check_role(role: str | None) -> str:
    if role not in PARTNER_ROLES:
        raise InvalidValue(f"role: '{role}' is not one of {', '.join(PARTNER_ROLES)}", field="role")
    return role


async def add_sub_partner_admin(
    repo: PartnerRepository,
    sub_id: uuid.UUID | None,
    email: str,
    display_name: str,
    role: str,
) -> tuple[Partner, PartnerAdmin]:
    """Add an administrator (any partner role) to a direct sub-partner. They have no password
    until they follow the invitation the caller sends."""
    sub = await sub_partner_to_change(repo, sub_id)
    clean_email = _check_admin_email(email, "email")
    clean_name = _check_display_name(display_name, "displayName")
    _check_role(role)
    await _check_email_free(repo.session, clean_email, "email")
    admin = await _add_admin(repo.session, sub, clean_email, clean_name, role, None)
    audit.admin_created(
        repo.session,
        repo.principal,
        admin,
        audit.changes_of({}, {"displayName": clean_name, "role": role}),
        detail={"subPartner": sub.name},
    )
    return sub, admin


async def update_sub_partner_admin(
    repo: PartnerRepository,
    sub_id: uuid.UUID | None,
    admin_id: uuid.UUID | None,
    *,
    display_name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> PartnerAdmin:
    """Change a sub-partner administrator's name, role or active flag, by the sub-partner's
    own rules (:func:`partnerhub.identity.service.update_admin`: it keeps at least one active
    full administrator)."""
    from partnerhub.identity import service as identity
    from partnerhub.identity.repository import AdminRepository

    sub = await sub_partner_to_change(repo, sub_id)
    # The parent acts inside its sub-partner with the administrator rights the sub-partner's
    # own full administrators have there (it holds sub_partners_write, checked above).
    inside = repo.principal.acting_for(sub.id, suspended=False)
    inside = replace(inside, scopes=frozenset({*inside.scopes, ADMIN_SCOPE}))
    if display_name is not None:
        display_name = _check_display_name(display_name, "displayName")
    return await identity.update_admin(
        AdminRepository(repo.session, inside),
        admin_id,
        display_name=display_name,
        role=role,
        active=active,
    )


# --- partner settings: name, PSTN providers, offers -------------------------------------

ADMIN = "partnerhub:admin"
READ_ANY = ("partnerhub:admin", "partnerhub:templates_read")
MAX_PROVIDERS = 50
SETTING_IN_USE_CODE = 1206


@dataclass
class PartnerSettings:
    name: str
    pstn_providers: list[str] = field(default_factory=list)
    hosted_calling: bool = False
    support_email: str | None = None  # where installation assistance requests are emailed

    @property
    def wholesale(self) -> bool:
        return True  # the only offer PartnerHub provisions

    @classmethod
    def of(cls, partner: Partner) -> PartnerSettings:
        settings = partner.settings or {}
        offers = settings.get("offers") or {}
        return cls(
            name=partner.name,
            pstn_providers=list(settings.get("pstnProviders") or []),
            hosted_calling=bool(offers.get("hostedCalling")),
            support_email=settings.get("supportEmail") or None,
        )


async def get_settings(repo: PartnerRepository) -> PartnerSettings:
    repo.principal.require(*READ_ANY)
    partner = await repo.current()
    if partner is None:
        raise NotFound("Partner not found")
    return PartnerSettings.of(partner)


def _clean_providers(raw: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in raw:
        name = (item or "").strip()
        if not name:
            continue
        if len(name) > 100:
            raise InvalidValue(
                f"pstnProviders: '{name[:20]}…' is longer than 100 characters",
                field="pstn_providers",
            )
        seen.setdefault(name.lower(), name)
    if len(seen) > MAX_PROVIDERS:
        raise InvalidValue(
            f"pstnProviders: at most {MAX_PROVIDERS} providers", field="pstn_providers"
        )
    return list(seen.values())


def _clean_support_email(raw: str | None) -> str | None:
    """A valid address, or None (blank): installation requests are then only stored."""
    if not (raw or "").strip():
        return None
    try:
        return check_email(raw, "support_email")
    except ApiError as exc:
        raise InvalidValue(f"supportEmail: {exc.description}", field="support_email") from None


async def update_settings(repo: PartnerRepository, new: PartnerSettings) -> PartnerSettings:
    """Replace the settings. A provider still named by a template cannot be removed, and the
    hosted-calling offer cannot be switched off while templates allow platform calling."""
    repo.principal.require(ADMIN)
    partner = await repo.current()
    if partner is None:
        raise NotFound("Partner not found")
    name = (new.name or "").strip()
    if not name:
        raise MissingField("name: the partner name is required", field="name")
    if len(name) > 200:
        raise InvalidValue("name: at most 200 characters", field="name")
    providers = _clean_providers(new.pstn_providers)
    support_email = _clean_support_email(new.support_email)
    current = PartnerSettings.of(partner)
    problems: list[ApiError] = []
    for removed in set(current.pstn_providers) - set(providers):
        used = await repo.templates_using_provider(removed)
        if used:
            problems.append(
                Conflict(
                    f"pstnProviders: '{removed}' is used by {used} template(s)",
                    code=SETTING_IN_USE_CODE,
                    field="pstn_providers",
                )
            )
    if current.hosted_calling and not new.hosted_calling:
        used = await repo.templates_with_platform_calling()
        if used:
            problems.append(
                Conflict(
                    f"offers.hostedCalling: {used} template(s) allow platform-to-platform calls",
                    code=SETTING_IN_USE_CODE,
                    field="hosted_calling",
                )
            )
    if problems:
        raise problems[0]
    partner.name = name
    partner.settings = {
        **(partner.settings or {}),
        "pstnProviders": providers,
        "offers": {"wholesale": True, "hostedCalling": bool(new.hosted_calling)},
        "supportEmail": support_email,
    }
    changes = audit.changes_of(asdict(current), asdict(PartnerSettings.of(partner)))
    if changes:
        audit.record(
            repo.session,
            repo.principal,
            "settings.update",
            target_type="ORGANIZATION",
            target_id=org_id(partner),
            target_name=partner.name,
            changes=changes,
        )
    await repo.session.flush()
    return PartnerSettings.of(partner)
