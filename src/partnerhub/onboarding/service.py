"""Rules for onboarding templates, shared by the API, the portal wizard and the CLI.

Validation is split by wizard step (``SECTIONS``) so the portal can check one step at a time
and the API can check them all; both get the same messages and error codes.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog import geo, languages, regions
from partnerhub.errors import (
    ApiError,
    Conflict,
    InvalidValue,
    MissingField,
    NotFound,
    ValidationFailed,
)
from partnerhub.identity.repository import AdminRepository
from partnerhub.ids import new_provisioning_id
from partnerhub.models import Partner, PartnerAdmin, Template
from partnerhub.onboarding.repository import TemplateRepository
from partnerhub.sso.repository import IdpRepository

# The partner IdP an authentication method names: its field, the other method's field (cleared),
# label, hint when missing, longest value, and what the registered ones are.
_PARTNER_IDP = {
    "partner_saml": (
        "idp_entity_id",
        "oidc_idp_name",
        "IdP entity ID",
        " (from the IdP's SAML metadata)",
        1024,
        "registered SAML identity providers",
    ),
    "partner_oidc": (
        "oidc_idp_name",
        "idp_entity_id",
        "OpenID Connect IdP name",
        "",
        200,
        "registered OpenID Connect providers",
    ),
}
READ = "partnerhub:templates_read"
WRITE = "partnerhub:templates_write"
OFFERS = ("wholesale",)
AUTH_METHODS = ("platform", "partner_saml", "partner_oidc")
# Wizard steps, in order; each validates its own fields.
SECTIONS = ("offer", "core", "calling", "authentication", "email")
NAME_TAKEN_CODE = 1202
IN_USE_CODE = 1203


@dataclass
class TemplateData:
    """A template's editable settings, independent of wire or form shape."""

    name: str = ""
    offer: str = "wholesale"
    service_provider_admin_email: str = ""
    country: str = ""
    default_email_language: str = ""
    wholesale_subscription_id: str = ""
    pstn_provider: str | None = None
    auth_method: str = "platform"
    idp_entity_id: str | None = None
    oidc_idp_name: str | None = None
    brand_name: str = ""
    allow_admin_invite_on_link: bool = False
    allow_platform_calling: bool = False
    data_region: str | None = None
    require_approval: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemplateData:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class PartnerContext:
    """What validation needs to know about the partner."""

    partner: Partner
    admins: list[PartnerAdmin] = field(default_factory=list)
    # The partner's registered IdPs. While a partner has registered none of a kind,
    # templates may name any of that kind (it can be registered later); once it has, a
    # template must name one of them.
    saml_entity_ids: list[str] = field(default_factory=list)
    oidc_names: list[str] = field(default_factory=list)

    @property
    def pstn_providers(self) -> list[str]:
        return list((self.partner.settings or {}).get("pstnProviders") or [])

    @property
    def platform_calling_available(self) -> bool:
        """The platform-calling toggle needs both the wholesale and hosted-calling offers."""
        offers = (self.partner.settings or {}).get("offers") or {}
        return bool(offers.get("wholesale")) and bool(offers.get("hostedCalling"))


def _clean(value: str | None) -> str:
    return (value or "").strip()


def check_section(section: str, data: TemplateData, ctx: PartnerContext) -> list[ApiError]:
    """Validate one wizard step, normalizing ``data`` in place; returns the problems."""
    problems: list[ApiError] = []

    # reason "template.<field>" (with a suffix where one field has several refusals) names the
    # portal's sentence in portal.messages.MESSAGES; params carry the value it shows.
    def missing(fld: str, label: str) -> None:
        problems.append(MissingField(f"{label} is required", field=fld, reason=f"template.{fld}"))

    def invalid(fld: str, message: str, value: object = None, suffix: str = "") -> None:
        params = {"value": "" if value is None else str(value)}
        problems.append(
            InvalidValue(message, field=fld, reason=f"template.{fld}{suffix}", params=params)
        )

    def required(fld: str, label: str) -> None:
        """A text field, cleaned, that must be given (200 characters at most)."""
        value = _clean(getattr(data, fld))
        setattr(data, fld, value)
        if not value:
            missing(fld, label)
        elif len(value) > 200:
            invalid(fld, f"{label}: at most 200 characters", value)

    if section == "offer":
        if data.offer not in OFFERS:
            invalid(
                "offer", f"offer: '{data.offer}' is not an offer (allowed: wholesale)", data.offer
            )
    elif section == "core":
        required("name", "Template name")
        email = _clean(data.service_provider_admin_email)
        data.service_provider_admin_email = email
        if not email:
            missing("service_provider_admin_email", "Service provider administrator")
        elif not any(a.email.lower() == email.lower() for a in ctx.admins):
            invalid(
                "service_provider_admin_email",
                f"Service provider administrator: '{email}' is not an administrator "
                "of this partner",
                email,
            )
        code = _clean(data.country).upper()
        data.country = code
        if not code:
            missing("country", "Country or region")
        elif geo.country(code) is None:
            invalid(
                "country", f"Country or region: '{code}' is not an ISO 3166-1 alpha-2 code", code
            )
        lang = _clean(data.default_email_language)
        if not lang:
            missing("default_email_language", "Default email language")
        else:
            norm = languages.normalize_language(lang)
            if norm is None or norm not in languages.SUPPORTED_EMAIL_LANGUAGES:
                invalid(
                    "default_email_language",
                    f"Default email language: '{lang}' is not a supported language",
                    lang,
                )
            else:
                data.default_email_language = norm
        data.wholesale_subscription_id = _clean(data.wholesale_subscription_id)
        if not data.wholesale_subscription_id:
            missing("wholesale_subscription_id", "Wholesale subscription")
        elif len(data.wholesale_subscription_id) > 100:
            invalid("wholesale_subscription_id", "Wholesale subscription: at most 100 characters")
        region = _clean(data.data_region).upper() or None
        data.data_region = region
        if region is not None and not regions.is_region(region):
            invalid("data_region", f"Data region: '{region}' is not a region", region)
    elif section == "calling":
        provider = _clean(data.pstn_provider) or None
        data.pstn_provider = provider
        if provider is not None and provider not in ctx.pstn_providers:
            invalid(
                "pstn_provider",
                f"PSTN provider: '{provider}' is not one of this partner's PSTN providers",
                provider,
            )
    elif section == "authentication":
        method = _clean(data.auth_method) or "platform"
        data.auth_method = method
        data.idp_entity_id = _clean(data.idp_entity_id) or None
        data.oidc_idp_name = _clean(data.oidc_idp_name) or None
        if method not in AUTH_METHODS:
            invalid(
                "auth_method",
                f"Authentication method: '{method}' is not one of {', '.join(AUTH_METHODS)}",
                method,
            )
        elif method in _PARTNER_IDP:
            field, other, label, hint, limit, what = _PARTNER_IDP[method]
            known = ctx.saml_entity_ids if method == "partner_saml" else ctx.oidc_names
            setattr(data, other, None)
            value = getattr(data, field)
            if not value:
                missing(field, label + hint)
            elif len(value) > limit:
                invalid(field, f"{label}: at most {limit} characters", value)
            elif known and value not in known:
                invalid(
                    field,
                    f"{label}: '{value}' is not one of this partner's {what}",
                    value,
                    ".unknown",
                )
        else:
            data.idp_entity_id = data.oidc_idp_name = None
    elif section == "email":
        required("brand_name", "Brand name")
        if data.allow_platform_calling and not ctx.platform_calling_available:
            invalid(
                "allow_platform_calling",
                "Platform-to-platform calls can be allowed only when both the wholesale "
                "and the hosted-calling offers are in use",
            )
    else:  # pragma: no cover - a programming error, not input
        raise ValueError(section)
    return problems


def check_all(data: TemplateData, ctx: PartnerContext) -> list[ApiError]:
    problems: list[ApiError] = []
    for section in SECTIONS:
        problems += check_section(section, data, ctx)
    return problems


async def partner_context(repo: TemplateRepository) -> PartnerContext:
    admins = AdminRepository(repo.session, repo.principal)
    partner = await admins.session.get(Partner, repo.principal.partner_id)
    if partner is None:
        raise NotFound("Partner not found")
    idps = IdpRepository(repo.session, repo.principal)
    return PartnerContext(
        partner=partner,
        admins=await admins.list_admins(),
        saml_entity_ids=await idps.saml_entity_ids(),
        oidc_names=await idps.oidc_names(),
    )


async def name_problem(
    repo: TemplateRepository, name: str | None, exclude: uuid.UUID | None = None
) -> Conflict | None:
    """409 1202 when another template of the partner has the name (the wizard asks at its
    core step, create and update again at the end)."""
    if not name or not await repo.name_taken(name, exclude=exclude):
        return None
    return Conflict(
        f"Template name: a template named '{name}' already exists",
        code=NAME_TAKEN_CODE,
        field="name",
        reason="template.name",
        params={"value": name},
    )


async def _validated(
    repo: TemplateRepository, data: TemplateData, exclude: uuid.UUID | None = None
) -> tuple[PartnerContext, PartnerAdmin]:
    ctx = await partner_context(repo)
    problems = check_all(data, ctx)
    if problems:
        raise ValidationFailed(problems)
    taken = await name_problem(repo, data.name, exclude)
    if taken is not None:
        raise taken
    admin = next(
        a for a in ctx.admins if a.email.lower() == data.service_provider_admin_email.lower()
    )
    return ctx, admin


def _apply(template: Template, data: TemplateData, admin: PartnerAdmin) -> None:
    template.name = data.name
    template.offer = data.offer
    template.service_provider_admin_id = admin.id
    template.country = data.country
    template.default_email_language = data.default_email_language
    template.wholesale_subscription_id = data.wholesale_subscription_id
    template.pstn_provider = data.pstn_provider
    template.auth_method = data.auth_method
    template.idp_entity_id = data.idp_entity_id
    template.oidc_idp_name = data.oidc_idp_name
    template.brand_name = data.brand_name
    template.allow_admin_invite_on_link = data.allow_admin_invite_on_link
    template.allow_platform_calling = data.allow_platform_calling
    template.data_region = data.data_region
    template.require_approval = data.require_approval


async def create(repo: TemplateRepository, data: TemplateData) -> Template:
    repo.principal.require(WRITE)
    _, admin = await _validated(repo, data)
    template = Template(
        id=uuid.uuid4(),
        partner_id=repo.principal.partner_id,
        provisioning_id=new_provisioning_id(),
    )
    _apply(template, data, admin)
    repo.add(template)
    await repo.session.flush()
    _log(repo, template, "template.create", audit.changes_of({}, _audited(template)))
    return template


_AUDITED = [f for f in TemplateData.__dataclass_fields__ if f != "service_provider_admin_email"]


def _audited(template: Template) -> dict[str, Any]:
    """What the audit log shows of a template before and after a change."""
    out = {name: getattr(template, name, None) for name in _AUDITED}
    out["auth_method"] = template.auth_method
    out["service_provider_admin_id"] = template.service_provider_admin_id
    return out


def _log(
    repo: TemplateRepository, template: Template, action: str, changes: dict[str, list[Any]]
) -> None:
    audit.record(
        repo.session,
        repo.principal,
        action,
        target_type="TEMPLATE",
        target_id=ids.encode("TEMPLATE", template.id, ids.HUB),
        target_name=template.name,
        changes=changes,
    )


async def get(repo: TemplateRepository, template_id: uuid.UUID | None) -> Template:
    repo.principal.require(READ)
    template = await repo.get(template_id) if template_id else None
    if template is None:
        raise NotFound("Onboarding template not found")
    return template


async def update(
    repo: TemplateRepository, template_id: uuid.UUID | None, data: TemplateData
) -> Template:
    """Change a template. Organizations already created from it keep their own snapshot."""
    repo.principal.require(WRITE)
    template = await get(repo, template_id)
    _, admin = await _validated(repo, data, exclude=template.id)
    before = _audited(template)
    _apply(template, data, admin)
    await repo.session.flush()
    _log(repo, template, "template.update", audit.changes_of(before, _audited(template)))
    return template


async def delete(repo: TemplateRepository, template_id: uuid.UUID | None) -> None:
    repo.principal.require(WRITE)
    template = await get(repo, template_id)
    used = (await repo.usage_counts([template.id])).get(template.id, 0)
    if used:
        raise Conflict(
            f"The template '{template.name}' is used by {used} customer(s) and cannot be deleted",
            code=IN_USE_CODE,
        )
    _log(repo, template, "template.delete", audit.changes_of(_audited(template), {}))
    await repo.delete(template)
    await repo.session.flush()


async def list_templates(
    repo: TemplateRepository, offset: int = 0, limit: int = 100
) -> list[Template]:
    repo.principal.require(READ)
    return await repo.page(offset, limit)


def data_of(template: Template, admin_email: str) -> TemplateData:
    """A template's settings as :class:`TemplateData` (the administrator by email)."""
    copied = {
        name: getattr(template, name)
        for name in TemplateData.__dataclass_fields__
        if name != "service_provider_admin_email"
    }
    return TemplateData(**copied, service_provider_admin_email=admin_email)
