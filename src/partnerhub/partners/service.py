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

from dataclasses import dataclass, field

from partnerhub import ids
from partnerhub.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidValue,
    MissingField,
    NotFound,
)
from partnerhub.kit.scope import Principal
from partnerhub.models import Partner
from partnerhub.partners.repository import PartnerRepository

SUB_PARTNERS_READ = "spark-admin:wholesale_sub_partners_read"
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


def refuse_if_suspended(principal: Principal, method: str) -> Principal:
    """A suspended sub-partner may read and delete only (403 otherwise)."""
    if principal.suspended and method.upper() not in ALLOWED_WHEN_SUSPENDED:
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
    from partnerhub.subscribers.service import check_email

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
    await repo.session.flush()
    return PartnerSettings.of(partner)
