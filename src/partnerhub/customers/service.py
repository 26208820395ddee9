"""Rules for wholesale customers, shared by the API, the portal wizard and the jobs.

The service works on request bodies as camelCase ``dict`` (the wire shape), so every message
names the field as the client wrote it (``address.zipOrPostalCode``,
``provisioningParameters.calling.location.timezone``). Reference data comes from
:mod:`partnerhub.catalog` only. Error codes follow CONTRACT section 6.

State machine (``Customer.status``)::

    pending_rpl_review --approve--> provisioning --job--> provisioned | provisioned_with_errors
                                                            | error
    settled --PUT--> updating --job--> settled        settled --DELETE--> deleting --job--> gone

``provisioning``, ``updating`` and ``deleting`` are *busy*: PUT and DELETE answer 409 (1201).
A request only sets the status and the per-package ``resourceDetails``; the job
(:mod:`partnerhub.customers.provisioning`) does the work, deferred after the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from partnerhub import ids
from partnerhub.catalog import geo, languages, packages, phones, regions, timezones
from partnerhub.customers.repository import (
    ConstraintViolated,
    CustomerFilters,
    CustomerListing,
    CustomerRepository,
    NewCustomerFacts,
    RememberedAnswer,
)
from partnerhub.errors import (
    ApiError,
    Busy,
    Conflict,
    InvalidAddress,
    InvalidValue,
    MissingField,
    NotFound,
    ValidationFailed,
)
from partnerhub.kit.validators import normalize_email
from partnerhub.models import Customer, CustomerEvent, Template
from partnerhub.models.base import utcnow

READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"
PRECHECK = "partnerhub:precheck"

STATUSES = (
    "provisioning",
    "provisioned",
    "provisioned_with_errors",
    "updating",
    "deleting",
    "error",
    "pending_rpl_review",
)
BUSY = frozenset({"provisioning", "updating", "deleting"})
SETTLED = frozenset({"provisioned", "provisioned_with_errors", "error"})
PENDING = "pending_rpl_review"

ADDRESS_LINE_MAX = 50
EXTERNAL_ID_MAX = 256
NAME_MAX = 256
LOCATION_NAME_MAX = 80
ELIN_MAX = 80
EMAIL_MAX = 320

# Error codes (CONTRACT section 6; hub numbering).
EMAIL_TAKEN_CODE = 10022
NOT_PENDING_CODE = 1204
WARNING_CODE = 2560  # background warning: a downstream service is unavailable, will retry
FAILED_CODE = 2561  # background error: a downstream service failed (or retries ran out)

IDEMPOTENCY_CONSTRAINT = "uq_idempotency_keys_partner_key"

PRECHECK_OK = "Provisioning precheck validation successful."


class NeitherInfoNorOrg(ApiError):
    status, code = 400, 1005


class CallingLocationRequired(ApiError):
    status, code = 400, 1006


class DependencyNotMet(ApiError):
    status, code = 400, 1007


class PercentInName(ApiError):
    status, code = 400, 1012


class InvalidNumber(ApiError):
    status, code = 400, 1013


# --- validation --------------------------------------------------------------------------


class Problems(list[ApiError]):
    def missing(self, name: str, detail: str = "is required") -> None:
        self.append(MissingField(f"{name}: {detail}", field=name))

    def invalid(self, name: str, detail: str) -> None:
        self.append(InvalidValue(f"{name}: {detail}", field=name))

    def raise_if_any(self) -> None:
        if self:
            raise ValidationFailed(list(self))


def _text(value: Any) -> str | None:
    """A stripped string, or None for absent/blank values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _checked_text(
    problems: Problems, name: str, value: Any, *, required: bool, max_length: int
) -> str | None:
    text = _text(value)
    if text is None:
        if required:
            problems.missing(name)
        return None
    if len(text) > max_length:
        problems.invalid(name, f"'{text[:60]}' is longer than {max_length} characters")
    return text


def check_email(problems: Problems, name: str, value: Any, *, required: bool) -> str | None:
    text = _checked_text(problems, name, value, required=required, max_length=EMAIL_MAX)
    if text is None:
        return None
    normalized = normalize_email(text)
    if normalized is None:
        problems.invalid(name, f"'{text}' is not a valid email address")
    return normalized


def check_address(problems: Problems, prefix: str, address: Any) -> dict[str, str]:
    """An address in the wholesale shape; ``{}`` (and a problem) when absent."""
    if not isinstance(address, dict):
        problems.missing(prefix)
        return {}
    out: dict[str, str] = {}
    for key, required in (
        ("addressLine1", True),
        ("addressLine2", False),
        ("city", True),
        ("stateOrProvince", False),
        ("zipOrPostalCode", False),
        ("country", True),
    ):
        text = _checked_text(
            problems,
            f"{prefix}.{key}",
            address.get(key),
            required=required,
            max_length=ADDRESS_LINE_MAX,
        )
        if text is not None:
            out[key] = text
    country = out.get("country")
    if country is None:
        return out
    if geo.country(country) is None:
        problems.invalid(f"{prefix}.country", f"'{country}' is not an ISO 3166-1 alpha-2 code")
        return out
    out["country"] = country.upper()
    for fld, message in geo.validate_address(
        out["country"],
        out.get("stateOrProvince"),
        out.get("zipOrPostalCode"),
        country_field=f"{prefix}.country",
        state_field=f"{prefix}.stateOrProvince",
        postal_field=f"{prefix}.zipOrPostalCode",
    ):
        problems.append(InvalidAddress(message, field=fld))
    return out


def check_packages(problems: Problems, value: Any, name: str = "packages") -> list[str]:
    if value is None:
        problems.missing(name)
        return []
    if not isinstance(value, list) or not value:
        problems.missing(name, "at least one package is required")
        return []
    chosen: list[str] = []
    for item in value:
        pkg = _text(item)
        if pkg is None or pkg not in packages.CUSTOMER_PACKAGES:
            problems.invalid(name, f"'{item}' is not a customer package")
        elif pkg not in chosen:
            chosen.append(pkg)
    for pkg, needs in packages.unmet_dependencies(chosen):
        options = ", ".join(p for p in packages.PACKAGES if p in needs)
        problems.append(
            DependencyNotMet(f"{name}: '{pkg}' needs one of {options} in the same list", field=name)
        )
    return chosen


def check_customer_info(problems: Problems, info: Any, *, precheck: bool = False) -> dict[str, str]:
    """``customerInfo``; the precheck's short variant needs only ``primaryEmail``."""
    prefix = "customerInfo"
    if not isinstance(info, dict):
        problems.missing(prefix)
        return {}
    out: dict[str, str] = {}
    name = _checked_text(
        problems, f"{prefix}.name", info.get("name"), required=not precheck, max_length=NAME_MAX
    )
    if name is not None:
        if "%" in name:
            problems.append(
                PercentInName(
                    f"{prefix}.name: '{name}' must not contain '%'", field=f"{prefix}.name"
                )
            )
        out["name"] = name
    email = check_email(problems, f"{prefix}.primaryEmail", info.get("primaryEmail"), required=True)
    if email is not None:
        out["primaryEmail"] = email
    lang = _text(info.get("language"))
    if lang is not None:
        norm = languages.normalize_language(lang)
        if norm is None:
            problems.invalid(f"{prefix}.language", f"'{lang}' is not a language like en or en_US")
        else:
            out["language"] = norm
    return out


def check_location(problems: Problems, location: Any) -> dict[str, Any]:
    prefix = "provisioningParameters.calling.location"
    if not isinstance(location, dict):
        problems.missing(prefix)
        return {}
    out: dict[str, Any] = {}
    name = _checked_text(
        problems,
        f"{prefix}.name",
        location.get("name"),
        required=True,
        max_length=LOCATION_NAME_MAX,
    )
    if name is not None:
        out["name"] = name
    out["address"] = check_address(problems, f"{prefix}.address", location.get("address"))
    zone = _text(location.get("timezone"))
    if zone is None:
        problems.missing(f"{prefix}.timezone")
    elif not timezones.is_timezone(zone):
        problems.invalid(f"{prefix}.timezone", f"'{zone}' is not an IANA time zone")
    else:
        out["timezone"] = zone
    lang = _text(location.get("language"))
    if lang is None:
        problems.missing(f"{prefix}.language")
    elif (norm := languages.normalize_language(lang)) is None:
        problems.invalid(f"{prefix}.language", f"'{lang}' is not a language like en or en_US")
    else:
        out["language"] = norm
    elin = _checked_text(
        problems,
        f"{prefix}.emergencyLocationIdentifier",
        location.get("emergencyLocationIdentifier"),
        required=False,
        max_length=ELIN_MAX,
    )
    if elin is not None:
        out["emergencyLocationIdentifier"] = elin
    country = out["address"].get("country")
    numbers: list[str] = []
    raw_numbers = location.get("numbers")
    if raw_numbers is not None and not isinstance(raw_numbers, list):
        problems.invalid(f"{prefix}.numbers", "must be a list of phone numbers")
        raw_numbers = []
    for i, raw in enumerate(raw_numbers or []):
        number = _number(problems, f"{prefix}.numbers[{i}]", raw, country)
        if number is not None and number not in numbers:
            numbers.append(number)
    main = location.get("mainNumber")
    if _text(main) is not None:
        main_number = _number(problems, f"{prefix}.mainNumber", main, country)
        if main_number is not None:
            out["mainNumber"] = main_number
            if main_number not in numbers:
                numbers.insert(0, main_number)
    if numbers:
        out["numbers"] = numbers
    return out


def _number(problems: Problems, name: str, raw: Any, country: str | None) -> str | None:
    e164 = phones.parse_e164(raw) if isinstance(raw, str) else None
    if e164 is None:
        problems.append(
            InvalidNumber(f"{name}: '{raw}' is not a valid E.164 phone number", field=name)
        )
        return None
    if (
        country
        and geo.country(country) is not None
        and not phones.is_valid_for_country(e164, country)
    ):
        problems.append(
            InvalidNumber(
                f"{name}: '{e164}' is not a number of the location's country {country}",
                field=name,
            )
        )
        return None
    return e164


def check_limits(problems: Problems, limits: Any, chosen: list[str]) -> dict[str, int]:
    prefix = "provisioningParameters.packages.limits"
    if not isinstance(limits, dict):
        problems.invalid(prefix, "must be an object of package: maximum")
        return {}
    out: dict[str, int] = {}
    for pkg, value in limits.items():
        name = f"{prefix}.{pkg}"
        if pkg not in packages.CUSTOMER_PACKAGES:
            problems.invalid(name, f"'{pkg}' is not a customer package")
            continue
        if chosen and pkg not in chosen:
            problems.invalid(name, f"'{pkg}' is not one of the customer's packages")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.invalid(name, f"'{value}' is not a whole number")
            continue
        if isinstance(value, float) and not value.is_integer():
            problems.invalid(name, f"'{value}' is not a whole number")
            continue
        if value < 0:
            problems.invalid(name, f"{value} must be 0 or more")
            continue
        out[pkg] = int(value)
    return out


def check_parameters(
    problems: Problems,
    params: Any,
    chosen: list[str] | None,
    *,
    location_known: bool = False,
) -> dict[str, Any]:
    """``provisioningParameters``; a calling location is required with calling packages
    unless ``location_known`` (an update of a customer that has one)."""
    params = params if isinstance(params, dict) else {}
    out: dict[str, Any] = {}
    calling = params.get("calling")
    location = calling.get("location") if isinstance(calling, dict) else None
    if location is not None:
        out["calling"] = {"location": check_location(problems, location)}
    elif chosen and packages.has_calling(chosen) and not location_known:
        calling_names = ", ".join(p for p in chosen if p in packages.CALLING_PACKAGES)
        problems.append(
            CallingLocationRequired(
                "provisioningParameters.calling.location: is required with calling packages "
                f"({calling_names})",
                field="provisioningParameters.calling.location",
            )
        )
    meetings = params.get("meetings")
    if isinstance(meetings, dict) and _text(meetings.get("timezone")) is not None:
        zone = _text(meetings.get("timezone"))
        if not timezones.is_timezone(zone):
            problems.invalid(
                "provisioningParameters.meetings.timezone", f"'{zone}' is not an IANA time zone"
            )
        else:
            out["meetings"] = {"timezone": zone}
    pkg_params = params.get("packages")
    if isinstance(pkg_params, dict) and pkg_params.get("limits") is not None:
        out["packages"] = {"limits": check_limits(problems, pkg_params["limits"], chosen or [])}
    return out


@dataclass
class Checked:
    """A validated provisioning request, normalized."""

    template: Template | None = None
    packages: list[str] = field(default_factory=list)
    external_id: str | None = None
    address: dict[str, str] = field(default_factory=dict)
    customer_info: dict[str, str] | None = None
    org_id: uuid.UUID | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    sub_partner_admin_email: str | None = None


def check_fields(body: dict[str, Any], *, precheck: bool = False) -> tuple[Checked, Problems]:
    """The field rules of a provisioning body (400s). ``precheck`` only requires ``address``
    and checks whatever else is present."""
    problems = Problems()
    out = Checked()
    if _text(body.get("provisioningId")) is None and not precheck:
        problems.missing("provisioningId")
    if body.get("packages") is not None or not precheck:
        out.packages = check_packages(problems, body.get("packages"))
    out.external_id = _checked_text(
        problems,
        "externalId",
        body.get("externalId"),
        required=not precheck,
        max_length=EXTERNAL_ID_MAX,
    )
    out.address = check_address(problems, "address", body.get("address"))
    raw_org = _text(body.get("orgId"))
    if raw_org is not None:
        out.org_id = ids.decode("ORGANIZATION", raw_org)
        if out.org_id is None:
            problems.invalid("orgId", f"'{raw_org}' is not an organization id")
    if body.get("customerInfo") is not None:
        out.customer_info = check_customer_info(
            problems, body.get("customerInfo"), precheck=precheck
        )
    elif raw_org is None and not precheck:
        problems.append(
            NeitherInfoNorOrg(
                "customerInfo: is required unless orgId is given", field="customerInfo"
            )
        )
    out.parameters = check_parameters(
        problems, body.get("provisioningParameters"), out.packages or None
    )
    out.sub_partner_admin_email = check_email(
        problems, "subPartnerAdminEmail", body.get("subPartnerAdminEmail"), required=False
    )
    return out, problems


def _check_references(
    facts: NewCustomerFacts, provisioning_id: str | None, checked: Checked
) -> str | None:
    """The rules that need the database, over the facts read beforehand: template (404),
    externalId/orgId (409), email (409).

    Returns the email of the template's service-provider administrator."""
    if provisioning_id is not None:
        if facts.template is None:
            raise NotFound(
                f"provisioningId: no onboarding template of yours has the provisioning ID "
                f"'{provisioning_id}'",
                field="provisioningId",
            )
        checked.template = facts.template
    email = (checked.customer_info or {}).get("primaryEmail")
    external_taken, org_taken, email_taken = facts.conflicts
    if external_taken:
        raise _external_id_taken(checked.external_id)
    if org_taken:
        raise _org_taken()
    if email_taken:
        raise Conflict(
            f"customerInfo.primaryEmail: '{email}' already belongs to a user",
            code=EMAIL_TAKEN_CODE,
            field="customerInfo.primaryEmail",
        )
    return facts.admin_email


def _external_id_taken(external_id: str | None) -> Conflict:
    if external_id is None:
        return Conflict("externalId: already used by another customer", field="externalId")
    return Conflict(
        f"externalId: '{external_id}' is already used by another customer", field="externalId"
    )


def _org_taken() -> Conflict:
    return Conflict("orgId: this organization already belongs to a customer", field="orgId")


async def _facts(
    repo: CustomerRepository, body: dict[str, Any], checked: Checked, key: str | None = None
) -> tuple[str | None, NewCustomerFacts]:
    provisioning_id = _text(body.get("provisioningId"))
    email = (checked.customer_info or {}).get("primaryEmail")
    facts = await repo.new_customer_facts(
        provisioning_id, checked.external_id, checked.org_id, email, key
    )
    return provisioning_id, facts


def template_snapshot(template: Template, admin_email: str | None) -> dict[str, Any]:
    """What an organization keeps of its template (a later template edit changes nothing)."""
    return {
        "template": {
            "id": str(template.id),
            "name": template.name,
            "provisioningId": template.provisioning_id,
        },
        "offer": template.offer,
        "country": template.country,
        "defaultEmailLanguage": template.default_email_language,
        "wholesaleSubscriptionId": template.wholesale_subscription_id,
        "serviceProviderAdminEmail": admin_email,
        "authentication": {
            "method": template.auth_method,
            "idpEntityId": template.idp_entity_id,
            "oidcIdpName": template.oidc_idp_name,
        },
        "pstn": {"provider": template.pstn_provider},
        "calling": {"allowPlatformCalling": template.allow_platform_calling},
        "email": {
            "brandName": template.brand_name,
            "allowAdminInviteOnLink": template.allow_admin_invite_on_link,
            "allowPlatformCalling": template.allow_platform_calling,
        },
        "dataRegion": template.data_region,
        "requireApproval": template.require_approval,
    }


def data_region_for(template: Template, country: str) -> str:
    """S21: the template's override, else the region of the address country."""
    if template.data_region and regions.is_region(template.data_region):
        return template.data_region
    return regions.region_for_country(country)


def _entry(name: str, status: str) -> dict[str, Any]:
    return {"name": name, "status": status, "warnings": [], "errors": []}


def _set_status(repo: CustomerRepository, customer: Customer, status: str, **detail: Any) -> None:
    if customer.status != status:
        customer.status = status
        customer.last_status_change = utcnow()
    repo.add_event(customer, "status", status, detail)


# --- operations ----------------------------------------------------------------------------


async def provision(repo: CustomerRepository, body: dict[str, Any]) -> Customer:
    """Create a customer (the portal wizard; the API goes through :func:`new_customer` and
    :func:`create` to remember its answer with the customer)."""
    customer = await new_customer(repo, body)
    assert customer is not None  # no idempotency key
    await create(repo, customer)
    return customer


async def new_customer(
    repo: CustomerRepository, body: dict[str, Any], idempotency_key: str | None = None
) -> Customer | None:
    """Every rule of a new customer (``POST /v1/wholesale/customers``), on the facts read in
    one statement; the :class:`Customer` to :func:`create`. ``None`` when the request's
    ``idempotency_key`` is already known: the caller replays (or refuses) it before any rule,
    since the first request with it took this externalId."""
    repo.principal.require(WRITE)
    checked, problems = check_fields(body)
    problems.raise_if_any()
    provisioning_id, facts = await _facts(repo, body, checked, idempotency_key)
    if idempotency_key is not None and facts.key_known:
        return None
    admin_email = _check_references(facts, provisioning_id, checked)
    template = checked.template
    assert template is not None and checked.external_id is not None
    info = checked.customer_info or {}
    customer = Customer(
        id=uuid.uuid4(),
        partner_id=repo.principal.partner_id,
        template_id=template.id,
        provisioning_id=template.provisioning_id,
        external_id=checked.external_id,
        name=info.get("name"),
        primary_email=info.get("primaryEmail"),
        language=info.get("language"),
        org_id=checked.org_id,
        status=PENDING if template.require_approval else "provisioning",
        data_region=data_region_for(template, checked.address["country"]),
        address=checked.address,
        packages=checked.packages,
        provisioning_parameters=checked.parameters,
        settings={
            **template_snapshot(template, admin_email),
            # S26: administrators keep the package tier the organization was created with,
            # even when a later PUT changes the customer's packages.
            "creationPackage": packages.highest_tier(checked.packages),
        },
        resource_details={
            "packages": [_entry(p, "provisioning") for p in checked.packages],
            "attachedOrganization": checked.org_id is not None,
        },
        errors=[],
        sub_partner_admin_email=checked.sub_partner_admin_email,
        last_status_change=utcnow(),
    )
    return customer


async def create(
    repo: CustomerRepository, customer: Customer, remembered: RememberedAnswer | None = None
) -> None:
    """Write the new ``customer`` with its first event and, when it is to be provisioned now,
    its provisioning job (one statement, in the caller's transaction: the job exists exactly
    when the customer does); ``remembered``: the ``Idempotency-Key`` with its answer, in the
    same statement. A concurrent request that took the externalId or the organization first
    gives the contract's 409."""
    event = CustomerEvent(
        id=uuid.uuid4(),
        partner_id=customer.partner_id,
        customer_id=customer.id,
        kind="status",
        status=customer.status,
        detail={"by": _actor(repo)},
        created=utcnow(),
    )
    try:
        await repo.insert_new(
            customer, event, provision=customer.status in BUSY, remembered=remembered
        )
    except ConstraintViolated as exc:
        raise _lost_race(exc.constraint, customer.external_id) from None


def _lost_race(constraint: str | None, external_id: str | None = None) -> ApiError:
    """The contract's error for a constraint a concurrent request made us violate."""
    if constraint == "uq_customers_partner_external_id":
        return _external_id_taken(external_id)
    if constraint == "ix_customers_org_id":
        return _org_taken()
    if constraint == IDEMPOTENCY_CONSTRAINT:
        return Conflict("Idempotency-Key: a request with this key is under way; retry it")
    return Conflict("A concurrent request changed the same customer; retry")


async def precheck(repo: CustomerRepository, body: dict[str, Any]) -> str:
    """``POST /v1/wholesale/customers/validate``: the same rules, nothing written."""
    repo.principal.require(WRITE, PRECHECK)
    checked, problems = check_fields(body, precheck=True)
    problems.raise_if_any()
    provisioning_id, facts = await _facts(repo, body, checked)
    _check_references(facts, provisioning_id, checked)
    return PRECHECK_OK


async def get(repo: CustomerRepository, customer_id: uuid.UUID | None) -> Customer:
    repo.principal.require(READ)
    customer = await repo.get(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


async def get_listed(repo: CustomerRepository, customer_id: uuid.UUID | None) -> CustomerListing:
    """A customer as the API shows it (one statement, no ORM object)."""
    repo.principal.require(READ)
    customer = await repo.listing(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def parse_filters(
    external_id: str | None, org_id: str | None, statuses: list[str] | None
) -> CustomerFilters:
    filters = CustomerFilters(external_id=_text(external_id))
    raw_org = _text(org_id)
    if raw_org is not None:
        filters.org_id = ids.decode("ORGANIZATION", raw_org)
        if filters.org_id is None:
            raise InvalidValue(f"orgId: '{raw_org}' is not an organization id", field="orgId")
    wanted: list[str] = []
    for raw in statuses or []:
        for part in raw.split(","):
            status = part.strip()
            if not status:
                continue
            if status not in STATUSES:
                raise InvalidValue(
                    f"status: '{status}' is not allowed ({', '.join(STATUSES)})", field="status"
                )
            if status not in wanted:
                wanted.append(status)
    filters.statuses = wanted
    return filters


async def list_customers(
    repo: CustomerRepository, filters: CustomerFilters, offset: int, limit: int
) -> list[CustomerListing]:
    repo.principal.require(READ)
    return await repo.page(filters, offset, limit)


async def _locked(repo: CustomerRepository, customer_id: uuid.UUID | None) -> Customer:
    customer = await repo.get(customer_id, for_update=True) if customer_id else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def _refuse_busy(customer: Customer) -> None:
    if customer.status in BUSY:
        raise Busy(
            f"The customer is busy ({customer.status}); retry when it has settled",
            field="status",
        )


async def update(
    repo: CustomerRepository, customer_id: uuid.UUID | None, body: dict[str, Any]
) -> Customer:
    """``PUT``: full replacement of ``packages``; ``externalId``, ``address`` and the given
    sections of ``provisioningParameters`` replace the stored ones."""
    repo.principal.require(WRITE)
    customer = await _locked(repo, customer_id)
    _refuse_busy(customer)
    problems = Problems()
    chosen = check_packages(problems, body.get("packages"))
    external_id = _checked_text(
        problems,
        "externalId",
        body.get("externalId"),
        required=False,
        max_length=EXTERNAL_ID_MAX,
    )
    address = check_address(problems, "address", body["address"]) if "address" in body else None
    has_location = bool((customer.provisioning_parameters or {}).get("calling"))
    params = check_parameters(
        problems, body.get("provisioningParameters"), chosen or None, location_known=has_location
    )
    sub_admin = check_email(
        problems, "subPartnerAdminEmail", body.get("subPartnerAdminEmail"), required=False
    )
    given_pid = _text(body.get("provisioningId"))
    if given_pid is not None and given_pid != customer.provisioning_id:
        problems.invalid("provisioningId", "cannot be changed after the customer is created")
    if "customerInfo" in body:
        info = body.get("customerInfo") or {}
        stored = {
            "name": customer.name,
            "primaryEmail": customer.primary_email,
            "language": customer.language,
        }
        if any(
            _text(info.get(k)) is not None and _text(info.get(k)) != stored[k]
            for k in ("name", "primaryEmail", "language")
        ):
            problems.invalid("customerInfo", "cannot be changed after the customer is created")
    problems.raise_if_any()
    if (
        external_id is not None
        and external_id != customer.external_id
        and await repo.external_id_taken(external_id)
    ):
        raise Conflict(
            f"externalId: '{external_id}' is already used by another customer", field="externalId"
        )
    if external_id is not None:
        customer.external_id = external_id
    if address is not None:
        customer.address = address  # dataRegion stays as fixed at creation (S21)
    if params:
        customer.provisioning_parameters = {**(customer.provisioning_parameters or {}), **params}
    if sub_admin is not None:
        customer.sub_partner_admin_email = sub_admin
    customer.packages = chosen
    customer.resource_details = plan_update(customer.resource_details or {}, chosen)
    customer.errors = []
    if customer.status == PENDING:
        repo.add_event(customer, "note", PENDING, {"by": _actor(repo), "change": "packages"})
    else:
        _set_status(repo, customer, "updating", by=_actor(repo))
    await _flush(repo)
    return customer


def plan_update(details: dict[str, Any], chosen: list[str]) -> dict[str, Any]:
    """Per-package plan of a PUT: new or failed packages → provisioning, packages left out →
    deleting, provisioned ones stay."""
    current = {e["name"]: dict(e) for e in details.get("packages") or []}
    entries: list[dict[str, Any]] = []
    for name in chosen:
        entry = current.pop(name, None)
        if entry is None or entry.get("status") != "provisioned":
            entry = {**(entry or _entry(name, "provisioning")), "status": "provisioning"}
            entry["errors"] = []
        entries.append(entry)
    for name, entry in current.items():
        entries.append({**entry, "name": name, "status": "deleting", "errors": []})
    return {**details, "packages": entries}


async def delete(repo: CustomerRepository, customer_id: uuid.UUID | None) -> Customer:
    """``DELETE``: status ``deleting``; the job removes the packages, the organization and
    then the row."""
    repo.principal.require(WRITE)
    customer = await _locked(repo, customer_id)
    _refuse_busy(customer)
    details = dict(customer.resource_details or {})
    details["packages"] = [
        {**e, "status": "deleting", "errors": []} for e in details.get("packages") or []
    ]
    customer.resource_details = details
    customer.errors = []
    _set_status(repo, customer, "deleting", by=_actor(repo))
    await _flush(repo)
    return customer


async def approve(repo: CustomerRepository, customer_id: uuid.UUID | None) -> Customer:
    """Hub: release a customer held in ``pending_rpl_review`` for provisioning."""
    repo.principal.require(WRITE)
    customer = await _locked(repo, customer_id)
    if customer.status != PENDING:
        raise Conflict(
            f"The customer is not waiting for approval (status {customer.status})",
            code=NOT_PENDING_CODE,
            field="status",
        )
    _set_status(repo, customer, "provisioning", by=_actor(repo), approved=True)
    await _flush(repo)
    return customer


def _actor(repo: CustomerRepository) -> str:
    p = repo.principal
    return p.actor_email or f"{p.kind}:{p.actor_id}"


async def _flush(repo: CustomerRepository) -> None:
    try:
        await repo.session.flush()
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        raise _lost_race(getattr(diag, "constraint_name", None)) from None


# --- for other domains -------------------------------------------------------------------


@dataclass(frozen=True)
class HqLocation:
    """The headquarters calling location recorded by provisioning (see docs/customers.md)."""

    customer_id: uuid.UUID
    org_id: uuid.UUID
    location_id: uuid.UUID
    name: str
    address: dict[str, str]
    timezone: str
    language: str
    emergency_location_identifier: str | None
    numbers: tuple[str, ...]
    main_number: str | None


def hq_location(customer: Customer) -> HqLocation | None:
    """The customer's HQ calling location once provisioning has created it, else None.

    The locations domain calls this to materialize the location (and to put the legacy
    ``numbers``/``mainNumber`` into its inventory); it is idempotent on ``location_id``.
    """
    hq = customer.hq_location
    if not hq or customer.org_id is None:
        return None
    return HqLocation(
        customer_id=customer.id,
        org_id=customer.org_id,
        location_id=uuid.UUID(hq["locationId"]),
        name=hq["name"],
        address=dict(hq.get("address") or {}),
        timezone=hq["timezone"],
        language=hq["language"],
        emergency_location_identifier=hq.get("emergencyLocationIdentifier"),
        numbers=tuple(hq.get("numbers") or ()),
        main_number=hq.get("mainNumber"),
    )


def license_id(customer: Customer | CustomerListing, package: str) -> str:
    base = customer.org_id or customer.id
    return ids.encode("LICENSE", uuid.uuid5(base, package), ids.region_of(customer.data_region))
