"""Rules for partner identity providers (registration) and single sign-on (sign-in).

Registration (API ``/v1/partner/identityProviders`` and the portal page, scope
``partnerhub:admin``): a SAML IdP is registered from its metadata XML, uploaded or fetched from
a URL; an OIDC provider by name, issuer, client id and secret, discovery URL. Templates refer to
a SAML IdP by entity ID and to an OIDC provider by name. An IdP may claim e-mail domains
(``domains``): ``/signin`` sends every address of a claimed domain to it (:func:`route_for`),
whether the address has an account or not, and every other address to the password form; a
domain is claimed by one IdP of one partner at most (409 ``1222`` otherwise).

Sign-in: :func:`start_saml` / :func:`finish_saml` and :func:`start_oidc` /
:func:`finish_oidc`. The identity the IdP asserts (an email) is mapped to a user who already
exists; nobody is ever created here:

* a partner administrator of the IdP's partner, when the IdP is marked for administrators;
* a user of a customer organization of the IdP's partner whose authentication snapshot
  (``customers.settings.authentication``) names this IdP.

Anyone else is refused with a reason (:class:`SignInRefused`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids, runtime
from partnerhub.audit import service as audit
from partnerhub.errors import (
    ApiError,
    Conflict,
    InvalidValue,
    MissingField,
    NotFound,
    ValidationFailed,
)
from partnerhub.identity import keys, org_auth
from partnerhub.identity import service as identity

# A claimed domain belongs to one partner family (migration 0011); the same code and
# constraint as a person refused at another family's domain (identity.service).
from partnerhub.identity.service import DOMAIN_CLAIMED_CODE, DOMAIN_FAMILY_CONSTRAINT
from partnerhub.kit.validators import address_domain, email_domain, normalize_domain
from partnerhub.models import (
    Customer,
    OidcProvider,
    OrgUser,
    PartnerAdmin,
    SamlIdentityProvider,
    SsoDomain,
    SsoRequest,
    SsoSpKey,
)
from partnerhub.models.base import utcnow
from partnerhub.sso import metadata as saml_metadata
from partnerhub.sso import oidc, saml
from partnerhub.sso.fetch import FetchError, check_url, fetch
from partnerhub.sso.repository import DomainRoute, IdpRepository, SignInRepository

ADMIN_SCOPE = "partnerhub:admin"
ALREADY_REGISTERED_CODE = 1220
IN_USE_CODE = 1221
MAX_DOMAINS = 50
SECRET_PURPOSE_OIDC = "oidc-client-secret"  # noqa: S105 - a key-derivation label, not a secret
SECRET_PURPOSE_SP_KEY = "saml-sp-key"  # noqa: S105 - a key-derivation label, not a secret
_Provider = TypeVar("_Provider", SamlIdentityProvider, OidcProvider)


# --- URLs -----------------------------------------------------------------------------------


def partner_ref(partner_id: uuid.UUID) -> str:
    return ids.encode("PARTNER", partner_id, ids.HUB)


def base_url() -> str:
    """PartnerHub's public URL (``PARTNERHUB_PUBLIC_URL``): the SP's identity depends on it, so
    it never comes from a request's Host header."""
    return runtime.settings().base_url()


def sp_entity_id(partner_id: uuid.UUID) -> str:
    return f"{base_url()}/sso/saml/{partner_ref(partner_id)}/metadata"


def acs_url(partner_id: uuid.UUID) -> str:
    return f"{base_url()}/sso/saml/{partner_ref(partner_id)}/acs"


def oidc_redirect_uri(partner_id: uuid.UUID) -> str:
    return f"{base_url()}/sso/oidc/{partner_ref(partner_id)}/callback"


# --- registration ---------------------------------------------------------------------------


@dataclass
class SamlInput:
    metadata_xml: str | None = None
    metadata_url: str | None = None
    display_name: str = ""
    email_attribute: str | None = None
    for_administrators: bool = False
    domains: list[str] | None = None  # None on update = keep the claimed ones


@dataclass
class OidcInput:
    name: str = ""
    issuer: str = ""
    client_id: str = ""
    client_secret: str | None = None  # None on update = keep the stored one
    discovery_url: str | None = None
    scopes: str | None = None
    for_administrators: bool = False
    domains: list[str] | None = None  # None on update = keep the claimed ones


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _check_url(value: str, field: str, label: str) -> str:
    try:
        check_url(value)
    except FetchError as exc:
        raise InvalidValue(
            f"{label}: {exc}", field=field, reason="metadata", params={"detail": str(exc)}
        ) from None
    if len(value) > 2048:
        raise InvalidValue(f"{label}: at most 2048 characters", field=field)
    return value


# --- e-mail domains ------------------------------------------------------------------------
# A domain's normalized form (``normalize_domain``, ``email_domain``) is kit.validators': the
# people rules compare an address's domain with the claims in that same form.


def split_domains(text: str) -> list[str]:
    """The domains typed in a portal field (separated by commas, spaces or lines)."""
    return [part for part in text.replace(",", " ").split() if part]


def check_domains(values: list[str] | None) -> list[str] | None:
    """The claimed domains, normalized, without repeats, sorted; None (keep) stays None."""
    if values is None:
        return None
    if len(values) > MAX_DOMAINS:
        raise InvalidValue(f"domains: at most {MAX_DOMAINS} domains", field="domains")
    found: set[str] = set()
    for value in values:
        domain = normalize_domain(value)
        if domain is None:
            raise InvalidValue(f"domains: '{value[:253]}' is not a domain name", field="domains")
        found.add(domain)
    return sorted(found)


def _domain_claimed(domains: list[str], *, race: bool = False) -> Conflict:
    """The refusal of a claim; it names the domains, never who holds them."""
    listed = ", ".join(f"'{d}'" for d in domains)
    if race:
        what = f"one of {listed} was just claimed"
    else:
        what = f"{listed} {'is' if len(domains) == 1 else 'are'} already claimed"
    return Conflict(
        f"domains: {what} by another identity provider",
        code=DOMAIN_CLAIMED_CODE,
        field="domains",
        reason="race" if race else "claimed",
        params={"value": ", ".join(domains)},
    )


async def _check_claims(repo: IdpRepository, idp_id: uuid.UUID, domains: list[str] | None) -> None:
    """Refuse domains another IdP (of this partner or any other) claims; writes nothing."""
    if not domains:
        return
    taken = sorted(
        c.domain
        for c in await repo.domain_claims(domains)
        if idp_id not in (c.saml_idp_id, c.oidc_provider_id)
    )
    if taken:
        raise _domain_claimed(taken)


def _set_claims(idp: SamlIdentityProvider | OidcProvider, domains: list[str] | None) -> None:
    """Make ``domains`` the IdP's claims (after :func:`_check_claims`); None keeps them."""
    if domains is None:
        return
    kept = {claim.domain: claim for claim in idp.claimed_domains}
    idp.claimed_domains = [
        kept.get(d)
        or SsoDomain(
            domain=d,
            address_domain=address_domain(d),
            partner_id=idp.partner_id,
            created=utcnow(),
        )
        for d in domains
    ]


async def _flush_claims(repo: IdpRepository, domains: list[str] | None) -> None:
    """Flush; a claim lost to a concurrent request (the domain's primary key) is the same
    409 as one refused beforehand."""
    try:
        await repo.flush()
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        name = str(getattr(diag, "constraint_name", None) or "")
        if name == "pk_sso_domains":
            raise _domain_claimed(domains or [], race=True) from None
        if name == DOMAIN_FAMILY_CONSTRAINT:
            listed = ", ".join(f"'{d}'" for d in domains or [])
            raise Conflict(
                f"domains: {listed}: people of another organization use this domain; a domain "
                "is claimed only by the partner whose administrators and customers use it",
                code=DOMAIN_CLAIMED_CODE,
                field="domains",
            ) from None
        raise


async def route_for(repo: SignInRepository, email: str) -> DomainRoute | None:
    """Where ``/signin`` sends ``email``: the IdP claiming its domain, or None (the password
    form). Decided by the domain alone, never by whether the address has an account."""
    domain = email_domain(email)
    return await repo.domain_route(domain) if domain else None


async def _metadata_of(data: SamlInput) -> tuple[str, saml_metadata.IdpMetadata, bool]:
    """The metadata XML (given or fetched), what it says, and whether it was fetched."""
    xml = data.metadata_xml or ""
    url = _clean(data.metadata_url) or None
    if xml.strip() and url:
        raise InvalidValue(
            "metadataXml, metadataUrl: give the metadata or its URL, not both",
            field="metadata_xml",
        )
    fetched = False
    if not xml.strip():
        if not url:
            raise MissingField(
                "metadataXml or metadataUrl: the IdP's SAML metadata is required",
                field="metadata_xml",
            )
        _check_url(url, "metadata_url", "metadataUrl")
        try:
            raw = await fetch(url, "metadataUrl")
        except FetchError as exc:
            raise InvalidValue(str(exc), field="metadata_url") from None
        try:
            xml = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValue(
                f"metadataUrl: {url} did not answer with UTF-8 XML", field="metadata_url"
            ) from None
        fetched = True
    limit = runtime.settings().sso_metadata_max_bytes
    if len(xml.encode()) > limit:
        raise InvalidValue(f"metadataXml: larger than {limit} bytes", field="metadata_xml")
    field = "metadata_url" if fetched else "metadata_xml"
    try:
        parsed = saml_metadata.parse(xml)
    except saml_metadata.MetadataError as exc:
        label = "metadataUrl" if fetched else "metadataXml"
        raise InvalidValue(f"{label}: {exc}", field=field) from None
    return xml, parsed, fetched


def _saml_options(data: SamlInput) -> tuple[str, str | None]:
    display = _clean(data.display_name)
    if len(display) > 200:
        raise InvalidValue("displayName: at most 200 characters", field="display_name")
    attribute = _clean(data.email_attribute) or None
    if attribute and len(attribute) > 200:
        raise InvalidValue("emailAttribute: at most 200 characters", field="email_attribute")
    return display, attribute


async def create_saml(repo: IdpRepository, data: SamlInput) -> SamlIdentityProvider:
    repo.principal.require(ADMIN_SCOPE)
    display, attribute = _saml_options(data)
    domains = check_domains(data.domains)
    xml, parsed, fetched = await _metadata_of(data)
    await _refuse_taken(repo, "saml", parsed.entity_id)
    idp = SamlIdentityProvider(id=uuid.uuid4(), partner_id=repo.principal.partner_id)
    await _check_claims(repo, idp.id, domains)
    _apply_saml(idp, xml, parsed, fetched, data, display, attribute)
    _set_claims(idp, domains or [])
    repo.add(idp)
    await _flush_claims(repo, domains)
    await ensure_sp_key(SignInRepository(repo.session), repo.principal.partner_id)
    _log(repo, "idp.create", idp, {})
    return idp


def _apply_saml(
    idp: SamlIdentityProvider,
    xml: str,
    parsed: saml_metadata.IdpMetadata,
    fetched: bool,
    data: SamlInput,
    display: str,
    attribute: str | None,
) -> None:
    idp.entity_id = parsed.entity_id
    idp.display_name = display
    idp.metadata_xml = xml
    idp.metadata_url = _clean(data.metadata_url) or None if fetched else None
    idp.metadata_fetched = utcnow() if fetched else None
    idp.signing_certificates = parsed.signing_certificates
    idp.sso_url = parsed.sso_url
    idp.sso_binding = parsed.sso_binding
    idp.want_authn_requests_signed = parsed.want_authn_requests_signed
    idp.email_attribute = attribute
    idp.for_administrators = bool(data.for_administrators)


async def _refuse_taken(
    repo: IdpRepository, kind: str, key: str, exclude: uuid.UUID | None = None
) -> None:
    """409 when another IdP of the partner has this SAML entity ID / OIDC name."""
    if kind == "saml" and await repo.saml_entity_taken(key, exclude=exclude):
        raise Conflict(
            f"entityId: a SAML IdP with entity ID '{key}' is already registered",
            code=ALREADY_REGISTERED_CODE,
            field="entity_id",
        )
    if kind == "oidc" and await repo.oidc_name_taken(key, exclude=exclude):
        raise Conflict(
            f"name: an OpenID Connect provider named '{key}' is already registered",
            code=ALREADY_REGISTERED_CODE,
            field="name",
        )


async def _in_use(repo: IdpRepository, provider: SamlIdentityProvider | OidcProvider) -> None:
    """409 while a template or an organization of the partner signs in through *provider*."""
    if isinstance(provider, SamlIdentityProvider):
        method, key = "partner_saml", provider.entity_id
        what = f"The SAML IdP '{key}'"
    else:
        method, key = "partner_oidc", provider.name
        what = f"The OIDC provider '{key}'"
    templates, customers = await repo.usage(method, key)
    if templates or customers:
        raise Conflict(
            f"{what} is used by {templates} template(s) and {customers} customer "
            "organization(s); change those first",
            code=IN_USE_CODE,
        )


def _found(provider: _Provider | None) -> _Provider:
    if provider is None:
        raise NotFound("Identity provider not found")
    return provider


async def get_saml(repo: IdpRepository, idp_id: uuid.UUID | None) -> SamlIdentityProvider:
    repo.principal.require(ADMIN_SCOPE)
    return _found(await repo.saml(idp_id) if idp_id else None)


async def get_oidc(repo: IdpRepository, provider_id: uuid.UUID | None) -> OidcProvider:
    repo.principal.require(ADMIN_SCOPE)
    return _found(await repo.oidc(provider_id) if provider_id else None)


async def update_saml(
    repo: IdpRepository, idp_id: uuid.UUID | None, data: SamlInput
) -> SamlIdentityProvider:
    """Replace the IdP's metadata and options; its entity ID may change only while unused."""
    idp = await get_saml(repo, idp_id)
    before = _audited(idp)
    display, attribute = _saml_options(data)
    domains = check_domains(data.domains)
    xml, parsed, fetched = await _metadata_of(data)
    if parsed.entity_id != idp.entity_id:
        await _in_use(repo, idp)
        await _refuse_taken(repo, "saml", parsed.entity_id, exclude=idp.id)
    await _check_claims(repo, idp.id, domains)
    _apply_saml(idp, xml, parsed, fetched, data, display, attribute)
    _set_claims(idp, domains)
    await _flush_claims(repo, domains)
    _log(repo, "idp.update", idp, before)
    return idp


def _audited(provider: SamlIdentityProvider | OidcProvider) -> dict[str, Any]:
    """What the audit log shows of an identity provider before and after a change (the OIDC
    client secret only as changed; the SAML signing certificates by SHA-256 prefix)."""
    domains = sorted(claim.domain for claim in provider.claimed_domains)
    if isinstance(provider, SamlIdentityProvider):
        return {
            "type": "saml",
            "entityId": provider.entity_id,
            "displayName": provider.display_name,
            "metadataUrl": provider.metadata_url,
            "ssoUrl": provider.sso_url,
            "signingCertificates": sorted(
                hashlib.sha256(cert.encode()).hexdigest()[:16]
                for cert in provider.signing_certificates or []
            ),
            "emailAttribute": provider.email_attribute,
            "forAdministrators": provider.for_administrators,
            "domains": domains,
        }
    return {
        "type": "oidc",
        "name": provider.name,
        "issuer": provider.issuer,
        "clientId": provider.client_id,
        "clientSecret": provider.client_secret_encrypted,
        "discoveryUrl": provider.discovery_url,
        "scopes": provider.scopes,
        "forAdministrators": provider.for_administrators,
        "domains": domains,
    }


def _log(
    repo: IdpRepository,
    action: str,
    provider: SamlIdentityProvider | OidcProvider,
    before: dict[str, Any],
    removed: bool = False,
) -> None:
    after = {} if removed else _audited(provider)
    is_saml = isinstance(provider, SamlIdentityProvider)
    audit.record(
        repo.session,
        repo.principal,
        action,
        target_type="IDENTITY_PROVIDER",
        target_id=str(provider.id),
        target_name=(provider.display_name or provider.entity_id)
        if isinstance(provider, SamlIdentityProvider)
        else provider.name,
        changes=audit.changes_of(before, after, secret=("clientSecret",)),
        detail={"type": "saml" if is_saml else "oidc"},
    )


async def delete_saml(repo: IdpRepository, idp_id: uuid.UUID | None) -> None:
    await _delete_unused(repo, await get_saml(repo, idp_id))


async def _delete_unused(
    repo: IdpRepository, provider: SamlIdentityProvider | OidcProvider
) -> None:
    await _in_use(repo, provider)
    _log(repo, "idp.delete", provider, _audited(provider), removed=True)
    await repo.delete(provider)
    await repo.flush()


def _check_oidc(data: OidcInput, creating: bool) -> tuple[str, str, str, str, str]:
    problems: list[ApiError] = []
    name = _clean(data.name)
    issuer = _clean(data.issuer)
    client_id = _clean(data.client_id)
    discovery = _clean(data.discovery_url) or (oidc.default_discovery_url(issuer) if issuer else "")
    scopes = " ".join((data.scopes or "openid email profile").split())
    if not name:
        problems.append(MissingField("name: is required", field="name"))
    elif len(name) > 200:
        problems.append(InvalidValue("name: at most 200 characters", field="name"))
    if not issuer:
        problems.append(MissingField("issuer: is required", field="issuer"))
    else:
        try:
            _check_url(issuer, "issuer", "issuer")
        except ApiError as exc:
            problems.append(exc)
    if not client_id:
        problems.append(MissingField("clientId: is required", field="client_id"))
    elif len(client_id) > 500:
        problems.append(InvalidValue("clientId: at most 500 characters", field="client_id"))
    if creating and not (data.client_secret or "").strip():
        problems.append(MissingField("clientSecret: is required", field="client_secret"))
    elif data.client_secret is not None and len(data.client_secret) > 2000:
        problems.append(
            InvalidValue("clientSecret: at most 2000 characters", field="client_secret")
        )
    if discovery:
        try:
            _check_url(discovery, "discovery_url", "discoveryUrl")
        except ApiError as exc:
            problems.append(exc)
    if "openid" not in scopes.split():
        problems.append(InvalidValue("scopes: must include 'openid'", field="scopes"))
    elif len(scopes) > 500:
        problems.append(InvalidValue("scopes: at most 500 characters", field="scopes"))
    if problems:
        raise ValidationFailed(problems) if len(problems) > 1 else problems[0]
    return name, issuer, client_id, discovery, scopes


async def _check_discovery(issuer: str, client_id: str, discovery: str, scopes: str) -> None:
    try:
        await oidc.discover(oidc.Provider(issuer, client_id, discovery, scopes))
    except FetchError as exc:
        raise InvalidValue(f"discoveryUrl: {exc}", field="discovery_url") from None


async def create_oidc(repo: IdpRepository, data: OidcInput) -> OidcProvider:
    repo.principal.require(ADMIN_SCOPE)
    name, issuer, client_id, discovery, scopes = _check_oidc(data, creating=True)
    domains = check_domains(data.domains)
    await _refuse_taken(repo, "oidc", name)
    provider_id = uuid.uuid4()
    await _check_claims(repo, provider_id, domains)
    await _check_discovery(issuer, client_id, discovery, scopes)
    provider = OidcProvider(
        id=provider_id,
        partner_id=repo.principal.partner_id,
        name=name,
        issuer=issuer,
        client_id=client_id,
        client_secret_encrypted=await keys.encrypt(
            repo.session, SECRET_PURPOSE_OIDC, str(data.client_secret).strip()
        ),
        discovery_url=discovery,
        scopes=scopes,
        for_administrators=bool(data.for_administrators),
    )
    _set_claims(provider, domains or [])
    repo.add(provider)
    await _flush_claims(repo, domains)
    _log(repo, "idp.create", provider, {})
    return provider


async def update_oidc(
    repo: IdpRepository, provider_id: uuid.UUID | None, data: OidcInput
) -> OidcProvider:
    """Replace the provider's settings; the client secret is kept unless a new one is given;
    the name may change only while no template or organization uses it."""
    provider = await get_oidc(repo, provider_id)
    before = _audited(provider)
    name, issuer, client_id, discovery, scopes = _check_oidc(data, creating=False)
    domains = check_domains(data.domains)
    if name != provider.name:
        await _in_use(repo, provider)
        await _refuse_taken(repo, "oidc", name, exclude=provider.id)
    await _check_claims(repo, provider.id, domains)
    await _check_discovery(issuer, client_id, discovery, scopes)
    provider.name = name
    provider.issuer = issuer
    provider.client_id = client_id
    provider.discovery_url = discovery
    provider.scopes = scopes
    provider.for_administrators = bool(data.for_administrators)
    if data.client_secret and data.client_secret.strip():
        provider.client_secret_encrypted = await keys.encrypt(
            repo.session, SECRET_PURPOSE_OIDC, data.client_secret.strip()
        )
    _set_claims(provider, domains)
    await _flush_claims(repo, domains)
    _log(repo, "idp.update", provider, before)
    return provider


async def delete_oidc(repo: IdpRepository, provider_id: uuid.UUID | None) -> None:
    await _delete_unused(repo, await get_oidc(repo, provider_id))


async def list_all(
    repo: IdpRepository,
) -> tuple[list[SamlIdentityProvider], list[OidcProvider]]:
    repo.principal.require(ADMIN_SCOPE)
    return await repo.saml_page(), await repo.oidc_page()


# --- the SP key pair --------------------------------------------------------------------------


async def ensure_sp_key(repo: SignInRepository, partner_id: uuid.UUID) -> SsoSpKey:
    key = await repo.sp_key(partner_id)
    if key is not None:
        return key
    partner = await repo.partner(partner_id)
    name = f"PartnerHub SP {partner.name if partner else ''}".strip()
    key_pem, cert_pem = await asyncio.to_thread(saml.generate_key_pair, name)
    return await repo.add_sp_key(
        SsoSpKey(
            partner_id=partner_id,
            certificate_pem=cert_pem,
            private_key_encrypted=await keys.encrypt(repo.session, SECRET_PURPOSE_SP_KEY, key_pem),
            created=utcnow(),
        )
    )


async def service_provider(repo: SignInRepository, partner_id: uuid.UUID) -> saml.ServiceProvider:
    key = await ensure_sp_key(repo, partner_id)
    key_pem = await keys.decrypt(repo.session, SECRET_PURPOSE_SP_KEY, key.private_key_encrypted)
    key_file, cert_file = await asyncio.to_thread(saml.key_files, key_pem, key.certificate_pem)
    return saml.ServiceProvider(
        entity_id=sp_entity_id(partner_id),
        acs_url=acs_url(partner_id),
        key_file=key_file,
        cert_file=cert_file,
        clock_skew=runtime.settings().sso_clock_skew_seconds,
    )


async def sp_metadata(repo: SignInRepository, partner_id: uuid.UUID) -> str:
    if await repo.partner(partner_id) is None:
        raise NotFound("Partner not found")
    sp = await service_provider(repo, partner_id)
    return await asyncio.to_thread(saml.sp_metadata, sp)


def _idp(idp: SamlIdentityProvider) -> saml.IdentityProvider:
    return saml.IdentityProvider(
        entity_id=idp.entity_id,
        metadata_xml=idp.metadata_xml,
        want_authn_requests_signed=idp.want_authn_requests_signed,
        sso_binding=idp.sso_binding,
        email_attribute=idp.email_attribute,
    )


# --- sign-in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """The sign-in a refusal used up (an ``sso_requests`` row of the partner, taken): what the
    audit log records of it. A refusal without one (a response to nothing started here, a
    replay of a used attempt) is only logged by the application."""

    partner_id: uuid.UUID
    method: str  # "saml" | "oidc"
    idp: str  # the IdP's display name (or entity ID), the provider's name; "" when removed


class SignInRefused(Exception):
    """Single sign-on refused; ``reason`` selects the page's explanation. ``attempt``, and
    for an asserted address the account of the IdP's partner it names (``admin``, or
    ``org_user`` of ``customer``) and why it may not sign in (``why``), say where the refusal
    is recorded (:func:`record_refused`)."""

    def __init__(self, reason: str, detail: str = "", email: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.email = email
        self.attempt: Attempt | None = None
        self.admin: PartnerAdmin | None = None
        self.org_user: OrgUser | None = None
        self.customer: Customer | None = None
        self.why = reason


@dataclass(frozen=True)
class SignedIn:
    """Who the IdP signed in: a partner administrator, or a user of a customer organization."""

    email: str
    admin: PartnerAdmin | None = None
    org_user: OrgUser | None = None
    customer: Customer | None = None
    next_url: str = "/"
    method: str = ""  # "saml" | "oidc"
    idp: str = ""  # the IdP's display name (or entity ID), or the provider's name


def record_signed_in(session: AsyncSession, signed: SignedIn) -> None:
    """``signin.success`` of whoever the IdP signed in, in the transaction that opens their
    session: a partner administrator in their partner's log, a customer user in their
    organization's."""
    detail = {"method": signed.method, "idp": signed.idp}
    if signed.admin is not None:
        identity.log_admin_sign_in(session, signed.admin, "signin.success", detail)
    elif signed.org_user is not None and signed.customer is not None:
        org_auth.log_sign_in(session, signed.org_user, signed.customer, "signin.success", detail)


def record_refused(session: AsyncSession, refused: SignInRefused) -> None:
    """The refusal of an attempt started here (``refused.attempt``), in the transaction that
    uses the attempt up: in the log of the account of the IdP's partner the asserted address
    names (the administrator's partner, the user's organization), else in the IdP's partner's
    own log (an address no account of that partner has, or another partner's: the same row,
    so the log tells the partner nothing its IdP did not say). Without an attempt: nothing."""
    attempt = refused.attempt
    if attempt is None:
        return
    detail = {"method": attempt.method, "idp": attempt.idp, "reason": refused.why}
    if refused.admin is not None:
        identity.log_admin_sign_in(session, refused.admin, "signin.failed", detail)
    elif refused.org_user is not None and refused.customer is not None:
        org_auth.log_sign_in(session, refused.org_user, refused.customer, "signin.failed", detail)
    elif refused.email:
        email = refused.email.strip()[:320]
        audit.record(
            session,
            audit.Actor("anonymous", email=email),
            "signin.failed",
            partner_id=attempt.partner_id,
            target_type="PEOPLE",
            target_name=email,
            detail=detail,
        )
    else:
        audit.record(
            session,
            audit.Actor("anonymous"),
            "signin.sso_refused",
            partner_id=attempt.partner_id,
            target_type="IDENTITY_PROVIDER",
            target_name=attempt.idp,
            detail=detail,
        )


def browser_hash(browser_secret: str) -> bytes:
    return hashlib.sha256(browser_secret.encode()).digest()


def _request_lifetime() -> timedelta:
    return timedelta(minutes=runtime.settings().sso_request_minutes)


async def start_saml(
    repo: SignInRepository,
    partner_id: uuid.UUID,
    idp_id: uuid.UUID | None,
    next_url: str,
    browser_secret: str,
) -> saml.AuthnRequest:
    idp = _found(await repo.saml(partner_id, idp_id) if idp_id else None)
    sp = await service_provider(repo, partner_id)
    request = await asyncio.to_thread(saml.authn_request, sp, _idp(idp), idp.sso_url)
    await _record_request(
        repo,
        browser_secret,
        next_url,
        kind="saml",
        request_key=request.request_id,
        partner_id=partner_id,
        saml_idp_id=idp.id,
    )
    return request


async def _record_request(
    repo: SignInRepository, browser_secret: str, next_url: str, **columns: Any
) -> None:
    """Write the attempt (``sso_requests``) that the IdP's answer must come back to, bound to
    the browser that started it and valid for ``PARTNERHUB_SSO_REQUEST_MINUTES``."""
    now = utcnow()
    repo.add(
        SsoRequest(
            id=uuid.uuid4(),
            browser_hash=browser_hash(browser_secret),
            next_url=next_url[:2048],
            created=now,
            expires=now + _request_lifetime(),
            **columns,
        )
    )
    await repo.flush()


async def _take(
    repo: SignInRepository,
    kind: str,
    key: str,
    partner_id: uuid.UUID,
    browser_secret: str | None,
    method: str,
) -> SsoRequest:
    now = utcnow()
    row = await repo.take_request(kind, key, partner_id, now)
    if row is None:
        seen = await repo.request_by_key(kind, key)
        if seen is None or seen.partner_id != partner_id:
            raise SignInRefused("unsolicited", "no sign-in was started here with this key")
        if seen.consumed is not None:
            raise SignInRefused("replayed", "this sign-in was already completed")
        raise SignInRefused("request_expired", "the sign-in took too long")
    if not browser_secret or not secrets.compare_digest(
        row.browser_hash, browser_hash(browser_secret)
    ):
        refused = SignInRefused(
            "browser", "the sign-in cookie is missing or belongs to another sign-in"
        )
        idp = await _idp_name(repo, row)
        refused.attempt = Attempt(partner_id, method, idp)  # used up: recorded
        raise refused
    return row


def _saml_name(idp: SamlIdentityProvider) -> str:
    return idp.display_name or idp.entity_id


async def _idp_name(repo: SignInRepository, row: SsoRequest) -> str:
    if row.saml_idp_id is not None:
        saml_idp = await repo.saml(row.partner_id, row.saml_idp_id)
        return _saml_name(saml_idp) if saml_idp else ""
    if row.oidc_provider_id is not None:
        provider = await repo.oidc(row.partner_id, row.oidc_provider_id)
        return provider.name if provider else ""
    return ""


async def finish_saml(
    repo: SignInRepository, partner_id: uuid.UUID, saml_response: str, browser_secret: str | None
) -> SignedIn:
    """Validate the IdP's response and find the user; :class:`SignInRefused` otherwise.

    The attempt is marked used before anything else is checked, so the caller must commit even
    when this raises (a refused response cannot be tried again).
    """
    try:
        request_id = saml.in_response_to(saml_response or "")
    except saml.SamlRefused as exc:
        raise SignInRefused(exc.reason, exc.detail) from None
    row = await _take(repo, "saml", request_id, partner_id, browser_secret, "saml")
    idp = await repo.saml(partner_id, row.saml_idp_id) if row.saml_idp_id else None
    try:
        return await _finish_saml(repo, partner_id, saml_response, request_id, row, idp)
    except SignInRefused as exc:
        exc.attempt = Attempt(partner_id, "saml", _saml_name(idp) if idp else "")
        raise


async def _finish_saml(
    repo: SignInRepository,
    partner_id: uuid.UUID,
    saml_response: str,
    request_id: str,
    row: SsoRequest,
    idp: SamlIdentityProvider | None,
) -> SignedIn:
    """The attempt ``row`` taken: check the response and find the user."""
    if idp is None:
        raise SignInRefused("unsolicited", "the identity provider is no longer registered")
    sp = await service_provider(repo, partner_id)
    try:
        assertion = await asyncio.to_thread(
            saml.parse_response, sp, _idp(idp), saml_response, request_id
        )
    except saml.SamlRefused as exc:
        raise SignInRefused(exc.reason, exc.detail) from None
    now = utcnow()
    keep_until = max(assertion.not_on_or_after or now, now) + timedelta(hours=1)
    if not await repo.consume_assertion(idp.id, assertion.assertion_id, keep_until):
        raise SignInRefused("replayed", f"assertion {assertion.assertion_id} was already used")
    email = assertion.email(idp.email_attribute)
    if not email:
        raise SignInRefused("no_email", "the response carries no email address")
    signed = await resolve_user(
        repo,
        partner_id,
        "partner_saml",
        idp.entity_id,
        idp.for_administrators,
        email,
        row.next_url,
    )
    return replace(signed, method="saml", idp=_saml_name(idp))


async def resolve_user(
    repo: SignInRepository,
    partner_id: uuid.UUID,
    method: str,
    key: str,
    for_administrators: bool,
    email: str,
    next_url: str,
) -> SignedIn:
    """The existing user the IdP's email designates; never creates one."""
    email = email.strip()
    refused = SignInRefused("unknown_user", f"no user may sign in as {email} here", email=email)
    admin = await repo.admin_by_email(email)
    if admin is not None and admin.partner_id == partner_id:
        if admin.active and for_administrators:
            return SignedIn(email=email, admin=admin, next_url=next_url)
        # The page says "unknown_user" whatever the reason; the partner's log says why.
        refused.admin = admin
        refused.why = "inactive" if not admin.active else "not_for_administrators"
        raise refused
    found = await repo.org_user_by_email(email)
    if found is not None and found[1].partner_id == partner_id:
        user, customer = found
        auth: dict[str, Any] = (customer.settings or {}).get("authentication") or {}
        field = "idpEntityId" if method == "partner_saml" else "oidcIdpName"
        usable = customer.org_id is not None and customer.status not in ("deleting", "error")
        if usable and auth.get("method") == method and auth.get(field) == key:
            target = next_url if next_url.startswith("/org") else "/org"
            return SignedIn(email=email, org_user=user, customer=customer, next_url=target)
        refused.org_user, refused.customer = user, customer
        refused.why = "organization_unavailable" if not usable else "another_sign_in_method"
    raise refused


# --- OIDC -----------------------------------------------------------------------------------


def _provider(row: OidcProvider) -> oidc.Provider:
    return oidc.Provider(row.issuer, row.client_id, row.discovery_url, row.scopes)


def state_key(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def start_oidc(
    repo: SignInRepository,
    partner_id: uuid.UUID,
    provider_id: uuid.UUID | None,
    next_url: str,
    browser_secret: str,
    login_hint: str | None = None,
) -> str:
    """The provider's authorization URL for a new attempt (PKCE, state, nonce)."""
    row = _found(await repo.oidc(partner_id, provider_id) if provider_id else None)
    try:
        meta = await oidc.discover(_provider(row))
    except FetchError as exc:
        raise SignInRefused("idp_unavailable", str(exc)) from None
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    url = await oidc.authorization_url(
        meta, _provider(row), oidc_redirect_uri(partner_id), state, nonce, verifier, login_hint
    )
    await _record_request(
        repo,
        browser_secret,
        next_url,
        kind="oidc",
        request_key=state_key(state),
        partner_id=partner_id,
        oidc_provider_id=row.id,
        nonce=nonce,
        code_verifier=verifier,
    )
    return url


async def finish_oidc(
    repo: SignInRepository,
    partner_id: uuid.UUID,
    params: dict[str, str],
    browser_secret: str | None,
) -> SignedIn:
    """Handle the provider's redirect back (``code`` and ``state``, or ``error``)."""
    state = params.get("state") or ""
    if not state:
        raise SignInRefused("state", "the callback has no state")
    row = await _take(repo, "oidc", state_key(state), partner_id, browser_secret, "oidc")
    provider = await repo.oidc(partner_id, row.oidc_provider_id) if row.oidc_provider_id else None
    try:
        return await _finish_oidc(repo, partner_id, params, row, provider)
    except SignInRefused as exc:
        exc.attempt = Attempt(partner_id, "oidc", provider.name if provider else "")
        raise


async def _finish_oidc(
    repo: SignInRepository,
    partner_id: uuid.UUID,
    params: dict[str, str],
    row: SsoRequest,
    provider: OidcProvider | None,
) -> SignedIn:
    """The attempt ``row`` taken: exchange the code, check the ID token, find the user."""
    if params.get("error"):
        raise SignInRefused(
            "status", f"{params.get('error')}: {params.get('error_description', '')}"
        )
    code = params.get("code") or ""
    if not code:
        raise SignInRefused("token", "the callback has no code")
    if provider is None:
        raise SignInRefused("unsolicited", "the identity provider is no longer registered")
    secret = await keys.decrypt(repo.session, SECRET_PURPOSE_OIDC, provider.client_secret_encrypted)
    try:
        meta = await oidc.discover(_provider(provider))
        token = await oidc.exchange_code(
            meta,
            _provider(provider),
            secret,
            oidc_redirect_uri(partner_id),
            code,
            row.code_verifier or "",
        )
        claims = await oidc.verify_id_token(meta, _provider(provider), token, row.nonce or "")
    except FetchError as exc:
        raise SignInRefused("idp_unavailable", str(exc)) from None
    except oidc.OidcRefused as exc:
        raise SignInRefused(exc.reason, exc.detail) from None
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused("no_email", "the ID token carries no email claim")
    if claims.get("email_verified") is False:
        raise SignInRefused("email_unverified", f"{email} is not verified by the provider")
    signed = await resolve_user(
        repo,
        partner_id,
        "partner_oidc",
        provider.name,
        provider.for_administrators,
        email,
        row.next_url,
    )
    return replace(signed, method="oidc", idp=provider.name)
