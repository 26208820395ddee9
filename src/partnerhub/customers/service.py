"""Wholesale customers' lifecycle, shared by the API, the portal wizard and the jobs: the
rules that need the database (template, conflicts) and the state machine. The field rules of
a body are :mod:`partnerhub.customers.rules`. Error codes follow CONTRACT section 6.

State machine (``Customer.status``)::

    pending_rpl_review --approve--> provisioning --job--> provisioned | provisioned_with_errors
                                                            | error
    settled --PUT--> updating --job--> settled        settled --DELETE--> deleting --job--> gone

``provisioning``, ``updating`` and ``deleting`` are *busy*: PUT and DELETE answer 409 (1201).
A request only sets the status and the per-package ``resourceDetails``; the job
(:mod:`partnerhub.customers.provisioning`) does the work. A new customer's job is written
with it (:func:`create`); a change's job is deferred after the commit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog import packages, regions
from partnerhub.catalog.statuses import CUSTOMER_STATUSES
from partnerhub.customers.repository import (
    ConstraintViolated,
    CustomerFilters,
    CustomerListing,
    CustomerRepository,
    NewCustomerFacts,
    RememberedAnswer,
)
from partnerhub.customers.rules import (
    EXTERNAL_ID_MAX,
    Checked,
    Problems,
    check_address,
    check_email,
    check_fields,
    check_packages,
    check_parameters,
    checked_text,
    clean_text,
)
from partnerhub.customers.schemas import CustomerIn, CustomerUpdateIn
from partnerhub.errors import ApiError, Busy, Conflict, InvalidValue, NotFound
from partnerhub.identity.service import domain_of_another_family
from partnerhub.models import Customer, CustomerEvent, Template
from partnerhub.models.base import utcnow

READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"
PRECHECK = "partnerhub:precheck"

STATUSES = CUSTOMER_STATUSES
BUSY = frozenset({"provisioning", "updating", "deleting"})
SETTLED = frozenset({"provisioned", "provisioned_with_errors", "error"})
PENDING = "pending_rpl_review"

log = logging.getLogger(__name__)


# Error codes (CONTRACT section 6; hub numbering).
EMAIL_TAKEN_CODE = 10022
NOT_PENDING_CODE = 1204
WARNING_CODE = 2560  # background warning: a downstream service is unavailable, will retry
FAILED_CODE = 2561  # background error: a downstream service failed (or retries ran out)

IDEMPOTENCY_CONSTRAINT = "uq_idempotency_keys_partner_key"
PRIMARY_EMAIL = "customerInfo.primaryEmail"  # the first administrator's address

PRECHECK_OK = "Provisioning precheck validation successful."


def _check_references(
    facts: NewCustomerFacts, provisioning_id: str | None, checked: Checked
) -> str | None:
    """The rules that need the database, over the facts read beforehand: template (404),
    externalId/orgId (409), email (409 ``10022``, then 409 ``1222``).

    Returns the email of the template's service-provider administrator."""
    if provisioning_id is not None:
        if facts.template is None:
            raise NotFound(
                f"provisioningId: no onboarding template of yours has the provisioning ID "
                f"'{provisioning_id}'",
                field="provisioningId",
            )
        checked.template = facts.template
    problems = conflict_problems(
        facts, checked.external_id, (checked.customer_info or {}).get("primaryEmail")
    )
    if problems:
        raise problems[0]
    return facts.admin_email


def conflict_problems(
    facts: NewCustomerFacts, external_id: str | None, email: str | None
) -> list[ApiError]:
    """What the facts forbid of a new customer, in the order the API refuses them: the
    externalId (409 ``1200``), the organization (409), the first administrator's email taken
    (409 ``10022``; one identity per address), and its domain claimed by an identity provider
    of another partner family (409 ``1222``: the administrator could never sign in, and the
    database would refuse the administrator at provisioning; the refusal never says who
    claims the domain)."""
    external_taken, org_taken, email_taken = facts.conflicts
    problems: list[ApiError] = []
    if external_taken:
        problems.append(external_id_taken(external_id))
    if org_taken:
        problems.append(_org_taken())
    if email_taken:
        problems.append(
            Conflict(
                f"{PRIMARY_EMAIL}: '{email}' already belongs to a user",
                code=EMAIL_TAKEN_CODE,
                field=PRIMARY_EMAIL,
            )
        )
    elif email is not None and facts.other_family_domain:
        # identity.service.refuse_domain_of_another_family's refusal, among the others
        problems.append(domain_of_another_family(email, PRIMARY_EMAIL))
    return problems


async def contact_problems(
    repo: CustomerRepository, external_id: str | None, email: str | None
) -> list[ApiError]:
    """:func:`conflict_problems` of a customer's externalId and first administrator's email
    before the rest of the body is known (the portal wizard's first step), on the facts
    statement of the POST."""
    repo.principal.require(WRITE)
    facts = await repo.new_customer_facts(None, external_id, None, email)
    return conflict_problems(facts, external_id, email)


def external_id_taken(external_id: str | None) -> Conflict:
    if external_id is None:
        return Conflict("externalId: already used by another customer", field="externalId")
    return Conflict(
        f"externalId: '{external_id}' is already used by another customer",
        field="externalId",
        params={"value": external_id},
    )


def _org_taken() -> Conflict:
    return Conflict("orgId: this organization already belongs to a customer", field="orgId")


async def _facts(
    repo: CustomerRepository, body: CustomerIn, checked: Checked, key: str | None = None
) -> tuple[str | None, NewCustomerFacts]:
    provisioning_id = clean_text(body.provisioning_id)
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
    """The data region of a new customer: the template's override, else the region of the
    address's country (fixed at creation: a later address does not move the data)."""
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


async def provision(repo: CustomerRepository, body: CustomerIn) -> Customer:
    """Create a customer (the portal wizard; the API goes through :func:`new_customer` and
    :func:`create` to remember its answer with the customer)."""
    customer = await new_customer(repo, body)
    assert customer is not None  # no idempotency key
    await create(repo, customer)
    return customer


async def new_customer(
    repo: CustomerRepository, body: CustomerIn, idempotency_key: str | None = None
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
            # The tier rule: administrators keep the package tier the organization was created with,
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
    logged = audit.build(
        repo.principal,
        "customer.create",
        customer=customer,
        target_type="CUSTOMER",
        target_id=_ref(customer),
        target_name=customer.name or customer.external_id,
        changes=audit.changes_of({}, _audited(customer)),
    )
    try:
        await repo.insert_new(
            customer,
            event,
            provision=customer.status in BUSY,
            remembered=remembered,
            audit_event=logged,
        )
    except ConstraintViolated as exc:
        raise _lost_race(exc.constraint, customer.external_id) from None


def _lost_race(constraint: str | None, external_id: str | None = None) -> ApiError:
    """The contract's error for a constraint a concurrent request made us violate."""
    if constraint == "uq_customers_partner_external_id":
        return external_id_taken(external_id)
    if constraint == "ix_customers_org_id":
        return _org_taken()
    if constraint == IDEMPOTENCY_CONSTRAINT:
        return Conflict("Idempotency-Key: a request with this key is under way; retry it")
    # Not a rule of ours: say which constraint, for the operator (the caller gets a 409).
    log.warning("customer write refused by constraint %s", constraint)
    return Conflict("A concurrent request changed the same customer; retry")


async def precheck(repo: CustomerRepository, body: CustomerIn) -> str:
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


async def holdings(repo: CustomerRepository, customer: Customer) -> dict[str, int]:
    """What deleting ``customer`` removes (users, locations, phone numbers), for the portal's
    confirmation."""
    return await repo.holdings(customer)


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
    filters = CustomerFilters(external_id=clean_text(external_id))
    raw_org = clean_text(org_id)
    if raw_org is not None:
        # An id that is not ours names no organization: the list is empty (as for an unknown
        # id or another tenant's), as the subscribers' ``customerId`` filter does.
        filters.org_id = ids.decode("ORGANIZATION", raw_org) or uuid.UUID(int=0)
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
    repo: CustomerRepository, customer_id: uuid.UUID | None, body: CustomerUpdateIn
) -> Customer:
    """``PUT``: full replacement of ``packages``; ``externalId``, ``address`` and the given
    sections of ``provisioningParameters`` replace the stored ones."""
    repo.principal.require(WRITE)
    customer = await _locked(repo, customer_id)
    _refuse_busy(customer)
    problems = Problems()
    chosen = check_packages(problems, body.packages)
    external_id = checked_text(
        problems, "externalId", body.external_id, required=False, max_length=EXTERNAL_ID_MAX
    )
    address = check_address(problems, "address", body.address) if body.address is not None else None
    has_location = bool((customer.provisioning_parameters or {}).get("calling"))
    params = check_parameters(
        problems, body.provisioning_parameters, chosen or None, location_known=has_location
    )
    sub_admin = check_email(
        problems, "subPartnerAdminEmail", body.sub_partner_admin_email, required=False
    )
    given_pid = clean_text(body.provisioning_id)
    if given_pid is not None and given_pid != customer.provisioning_id:
        problems.invalid("provisioningId", "cannot be changed after the customer is created")
    if body.customer_info is not None:
        info = body.customer_info
        given = (info.name, info.primary_email, info.language)
        stored = (customer.name, customer.primary_email, customer.language)
        if any(
            clean_text(new) is not None and clean_text(new) != old
            for new, old in zip(given, stored, strict=True)
        ):
            problems.invalid("customerInfo", "cannot be changed after the customer is created")
    problems.raise_if_any()
    before = _audited(customer)
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
        customer.address = address  # dataRegion stays as fixed at creation
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
    _log(repo, customer, "customer.update", audit.changes_of(before, _audited(customer)))
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
    before_status = customer.status
    details = dict(customer.resource_details or {})
    details["packages"] = [
        {**e, "status": "deleting", "errors": []} for e in details.get("packages") or []
    ]
    customer.resource_details = details
    customer.errors = []
    _set_status(repo, customer, "deleting", by=_actor(repo))
    _log(repo, customer, "customer.delete", {"status": [before_status, "deleting"]})
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
    _log(repo, customer, "customer.approve", {"status": [PENDING, "provisioning"]})
    await _flush(repo)
    return customer


def _ref(customer: Customer) -> str:
    return ids.encode("CUSTOMER", customer.id, ids.region_of(customer.data_region))


def _audited(customer: Customer) -> dict[str, Any]:
    """What the audit log shows of a customer before and after a change."""
    return {
        "externalId": customer.external_id,
        "name": customer.name,
        "primaryEmail": customer.primary_email,
        "address": dict(customer.address or {}),
        "packages": list(customer.packages or []),
        "provisioningParameters": dict(customer.provisioning_parameters or {}),
        "subPartnerAdminEmail": customer.sub_partner_admin_email,
        "status": customer.status,
    }


def _log(
    repo: CustomerRepository, customer: Customer, action: str, changes: dict[str, list[Any]]
) -> None:
    audit.record(
        repo.session,
        repo.principal,
        action,
        customer=customer,
        target_type="CUSTOMER",
        target_id=_ref(customer),
        target_name=customer.name or customer.external_id,
        changes=changes,
    )


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
