"""The rules of a subscriber, written once for every way in (API, portal, bulk import).

A subscriber is a user of a customer organization (``org_users``). The rules run over a small
:class:`Facts` interface: the API reads the facts of one request in one statement
(:mod:`partnerhub.subscribers.service`), the precheck the same with nothing written, and the
bulk import loads them once for the whole file and updates them row by row, so that two rows
claiming the same number conflict exactly as two requests would.

Order of the checks for a new subscriber: ``email`` (1002/1003), ``package``/``packages``
(1008/1003), the customer (404, 409 when not provisioned), the package among the customer's
packages (1003), administrator roles and tier (1003/1011), the email free (409 ``10022``, or
``pending_user_migration``) and its domain not claimed by another partner family's identity
provider (409 ``1222``), the package limit (1010), then calling: location (404/1006),
number or extension required (1009), number (1013), extension (1003, 409 ``1210``).

``pending_user_migration`` (202): the email belongs to a user of an organization of another
partner, who holds no administrator role there. The subscriber is recorded as pending (its
number and extension are reserved) until the user consents to the move
(:mod:`partnerhub.subscribers.consent`). Emails of users of this partner's own organizations
(or of another organization's administrators) answer 409 ``10022``.

This module also holds the look-ups every operation shares (a subscriber, a customer, a user
of a customer by reference) and the mapping of a violated constraint to its contract error.
The modules beside it: ``service`` (create, update, delete, precheck: the operations),
``listing`` (the subscribers list), ``roles`` (administrators and their roles), ``consent``
(the consent to a user move).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import psycopg
from sqlalchemy.exc import IntegrityError

from partnerhub import errors, ids
from partnerhub.catalog import customer_roles, packages
from partnerhub.errors import (
    ApiError,
    Busy,
    Conflict,
    InvalidValue,
    MissingField,
    NotFound,
)
from partnerhub.identity.service import (
    DOMAIN_FAMILY_CONSTRAINT,
    IDENTITY_CONSTRAINT,
    domain_of_another_family,
    refuse_domain_of_another_family,
    refuse_other_identity,
)
from partnerhub.kit.scope import Principal
from partnerhub.kit.validators import check_email
from partnerhub.models import Customer, OrgUser
from partnerhub.models.base import utcnow
from partnerhub.models.identity_email import ORG_USER
from partnerhub.numbers.service import NumberError, violated_constraint
from partnerhub.subscribers.repository import (
    PENDING,
    EmailUser,
    NewSubscriber,
    NumberFact,
    SubscriberListing,
    SubscriberRepository,
)

READ = "spark-admin:wholesale_subscribers_read"
WRITE = "spark-admin:wholesale_subscribers_write"
PROVISIONED = "provisioned"
STATUSES = (PROVISIONED, PENDING)
USABLE_CUSTOMER_STATUSES = ("provisioned", "provisioned_with_errors")
EMAIL_USED_CODE = 10022
EXTENSION_TAKEN_CODE = 1210
EXTENSION_RE = re.compile(r"[0-9]{2,10}")
NAME_MAX = 200
PRECHECK_OK = "Provisioning preCheck validation successful."

# Rule field keys (also the bulk-import CSV columns) → where they sit in the wire body.
WIRE_FIELDS = {
    "customer": "customerId",
    "email": "email",
    "package": "package",
    "packages": "packages",
    "first_name": "provisioningParameters.firstName",
    "last_name": "provisioningParameters.lastName",
    "phone_number": "provisioningParameters.primaryPhoneNumber",
    "extension": "provisioningParameters.extension",
    "location": "provisioningParameters.locationId",
    "admin_role": "roles",
    "provisioning_id": "provisioningId",
    "primary_email": "customerInfo.primaryEmail",
}


class EmailTaken(Conflict):
    code = EMAIL_USED_CODE


class ExtensionTaken(Conflict):
    code = EXTENSION_TAKEN_CODE


class PackageChoice(InvalidValue):
    code = 1008


class CallingNeedsNumber(InvalidValue):
    code = 1009


class LimitReached(InvalidValue):
    code = 1010


class AdminTier(InvalidValue):
    code = 1011


class NoCallingLocation(InvalidValue):
    code = 1006


class CustomerFacts(Protocol):
    """What the rules read of a customer: an ORM :class:`Customer`, or the plain row the API's
    facts statement reads (:class:`partnerhub.subscribers.repository.CustomerRow`)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def partner_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> str: ...
    @property
    def org_id(self) -> uuid.UUID | None: ...
    @property
    def packages(self) -> list[str]: ...
    @property
    def provisioning_parameters(self) -> dict[str, Any]: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def data_region(self) -> str: ...
    @property
    def external_id(self) -> str: ...


class Place(Protocol):
    """What the rules read of a location (an ORM :class:`Location`, or a plain row)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...


# --- inputs and plans ----------------------------------------------------------------------


@dataclass
class SubscriberInput:
    """A subscriber as asked for, independent of wire, form or CSV shape.

    ``given`` names the calling fields present in the request (``phone_number``,
    ``extension``, ``location``): on update, a field left out keeps its value and a field
    given empty clears it. ``location`` is a reference the :class:`Facts` resolve (a wire
    location id; the bulk import also takes a location name).
    """

    customer: str | None = None
    email: str | None = None
    package: str | None = None
    packages: list[str] | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    extension: str | None = None
    location: str | None = None
    roles: list[str] | None = None
    given: frozenset[str] = frozenset()


@dataclass
class Plan:
    """What to write for one subscriber."""

    email: str
    package: str
    first_name: str | None = None
    last_name: str | None = None
    location_id: uuid.UUID | None = None
    phone_number: str | None = None
    extension: str | None = None
    roles: list[str] = field(default_factory=list)
    status: str = PROVISIONED
    moves_user_id: uuid.UUID | None = None
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)


# --- facts ---------------------------------------------------------------------------------


CustomerT = TypeVar("CustomerT", bound=CustomerFacts)


class Facts(Generic[CustomerT]):
    """What the rules need to know about the database, for one customer."""

    customer: CustomerT

    async def email_users(self, email: str) -> list[EmailUser]:
        raise NotImplementedError

    async def identity_kind(self, email: str) -> str | None:
        """Which kind of account holds ``email`` (``identity_emails``; None: free)."""
        raise NotImplementedError

    async def domain_of_another_family(self, email: str) -> bool:
        """Whether an identity provider of a partner outside the family of the customer's
        partner claims ``email``'s domain (``identity.repository.other_family_claim``)."""
        raise NotImplementedError

    async def location(self, ref: str) -> Place | None:
        raise NotImplementedError

    async def location_by_id(self, location_id: uuid.UUID) -> Place | None:
        raise NotImplementedError

    async def headquarters(self) -> Place | None:
        raise NotImplementedError

    async def number(self, e164: str) -> NumberFact | None:
        raise NotImplementedError

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        raise NotImplementedError

    async def package_count(self, package: str) -> int:
        raise NotImplementedError

    def parse_number(self, raw: str) -> str | None:
        """The E.164 form of ``raw`` (``None`` if invalid)."""
        from partnerhub.catalog import phones

        return phones.parse_e164(raw)


# --- single rules --------------------------------------------------------------------------


def clean_text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def choose_package(inp: SubscriberInput) -> str:
    """Exactly one of ``package`` or ``packages`` (one element), naming a subscriber package."""
    if (inp.package is None) == (inp.packages is None):
        raise PackageChoice(
            "exactly one of package or packages (with one element) is required", field="package"
        )
    if inp.packages is not None:
        if len(inp.packages) != 1:
            raise PackageChoice(
                f"packages: exactly one package is accepted ({len(inp.packages)} given)",
                field="packages",
            )
        name, allowed, wire = inp.packages[0], packages.SUBSCRIBER_PACKAGES, "packages"
    else:
        name, allowed, wire = inp.package or "", packages.LEGACY_SUBSCRIBER_PACKAGES, "package"
    name = (name or "").strip()
    if name not in allowed:
        raise InvalidValue(
            f"'{name}' is not a subscriber package (allowed: {', '.join(allowed)})",
            field=wire,
            reason="unknown",
            params={"value": name},
        )
    return name


def check_customer(customer: CustomerFacts) -> None:
    if customer.status not in USABLE_CUSTOMER_STATUSES or customer.org_id is None:
        raise Busy(
            f"customerId: the customer is {customer.status}; subscribers can be added and "
            "changed once it is provisioned",
            field="customer",
        )


def check_customer_package(customer: CustomerFacts, package: str) -> None:
    if package not in (customer.packages or []):
        raise InvalidValue(
            f"'{package}' is not one of the customer's packages "
            f"({', '.join(customer.packages or []) or 'none'})",
            field="package",
            reason="not_chosen",
            params={"package": package},
        )


def package_limit(customer: CustomerFacts, package: str) -> int | None:
    """The customer's limit for ``package`` (``provisioningParameters.packages.limits``)."""
    params = customer.provisioning_parameters or {}
    limits = (params.get("packages") or {}).get("limits") or {}
    value = limits.get(package)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def check_limit(facts: Facts, package: str) -> None:
    limit = package_limit(facts.customer, package)
    if limit is None:
        return
    used = await facts.package_count(package)
    if used >= limit:
        raise LimitReached(
            f"the customer's limit for '{package}' is reached ({used} of {limit} assigned)",
            field="package",
            params={"package": package, "used": used, "limit": limit},
        )


def creation_package(customer: CustomerFacts) -> str | None:
    """The package the organization was created with: the one recorded at creation
    (``settings.creationPackage``), else the highest-tier package of the customer."""
    recorded = (customer.settings or {}).get("creationPackage")
    if isinstance(recorded, str) and recorded in packages.PACKAGES:
        return recorded
    return packages.highest_tier(customer.packages or [])


def check_roles(raw: list[str] | None) -> list[str]:
    roles: list[str] = []
    for name in raw or []:
        role = (name or "").strip()
        if not role:
            continue
        if not customer_roles.is_role(role):
            raise InvalidValue(
                f"'{role}' is not a role (allowed: {', '.join(customer_roles.CUSTOMER_ROLES)})",
                field="admin_role",
            )
        if role not in roles:
            roles.append(role)
    return roles


def check_admin_tier(
    customer: CustomerFacts, roles: list[str], package: str | None, current: str | None = None
) -> None:
    """Administrators hold at least the organization's creation tier (else 1011),
    and a full administrator's package is never lowered."""
    if not roles:
        return
    if current is not None and package is not None and package != current:
        locked = [r for r in roles if customer_roles.CUSTOMER_ROLES[r].package_locked]
        if locked and packages.is_downgrade(current, package):
            raise AdminTier(
                f"the package of a {customer_roles.role_label(locked[0]).lower()} cannot be "
                f"lowered ('{current}' to '{package}')",
                field="package",
                reason="lowered",
                params={"role": locked[0], "current": current, "package": package},
            )
    base = creation_package(customer)
    base_tier = packages.tier(base) if base else None
    if base_tier is None:
        return
    have = packages.tier(package) if package else None
    if have is None or have < base_tier:
        raise AdminTier(
            f"administrators must hold the organization's creation package level "
            f"('{base}') or higher; '{package or 'no package'}' is lower",
            field="package",
            reason="below_creation",
            params={"base": base, "package": package or ""},
        )


def check_names(inp: SubscriberInput) -> tuple[str | None, str | None]:
    out = []
    for attr in ("first_name", "last_name"):
        value = clean_text(getattr(inp, attr))
        if value is not None and len(value) > NAME_MAX:
            raise InvalidValue(
                f"at most {NAME_MAX} characters",
                field=attr,
                reason="too_long",
                params={"max": NAME_MAX},
            )
        out.append(value)
    return out[0], out[1]


async def check_email_free(
    facts: Facts, email: str, principal: Principal, self_id: uuid.UUID | None = None
) -> tuple[str, uuid.UUID | None]:
    """``(status, user to move)`` for a new subscriber with ``email``; 409 when taken (also
    when a partner administrator holds it: one identity per address), and 409 ``1222`` when
    another partner family's identity provider claims its domain
    (:func:`identity.service.refuse_domain_of_another_family`: the POST, its precheck, the
    portal and the bulk import give the same verdict)."""
    refuse_other_identity(ORG_USER, email, await facts.identity_kind(email))
    status, moves = PROVISIONED, None
    for user in await facts.email_users(email):
        if user.id == self_id:
            continue
        if user.status == PENDING:
            if user.customer_id == facts.customer.id:
                raise EmailTaken(
                    f"'{email}' is already waiting for its user's consent to move to this "
                    "organization",
                    field="email",
                    reason="pending",
                    params={"value": email},
                )
            continue
        if user.partner_id == principal.partner_id or user.roles:
            raise EmailTaken(
                f"'{email}' already belongs to a user",
                field="email",
                reason="taken",
                params={"value": email},
            )
        status, moves = PENDING, user.id
    refuse_domain_of_another_family(email, await facts.domain_of_another_family(email))
    return status, moves


async def check_number(facts: Facts, location: Place, raw: str, self_id: uuid.UUID | None) -> str:
    e164 = facts.parse_number(raw)
    if e164 is None:
        raise NumberError(
            f"'{raw}' is not a valid E.164 phone number",
            field="phone_number",
            reason="not_e164",
            params={"value": raw},
        )
    fact = await facts.number(e164)
    if fact is None:
        raise NumberError(
            f"{e164} is not in the customer's number inventory",
            field="phone_number",
            reason="not_in_inventory",
            params={"value": e164},
        )
    if fact.location_id != location.id:
        raise NumberError(
            f"{e164} is in another location's inventory, not in '{location.name}'",
            field="phone_number",
            reason="other_location",
            params={"value": e164, "location": location.name},
        )
    if fact.main:
        raise NumberError(
            f"{e164} is the main number of location '{location.name}'",
            field="phone_number",
            reason="main_number",
            params={"value": e164, "location": location.name},
        )
    if fact.owner_id is not None and fact.owner_id != self_id:
        raise NumberError(
            f"{e164} is already assigned",
            field="phone_number",
            reason="assigned",
            params={"value": e164},
        )
    return e164


async def check_extension(
    facts: Facts, location: Place, raw: str, self_id: uuid.UUID | None
) -> str:
    ext = raw.strip()
    if not EXTENSION_RE.fullmatch(ext):
        raise InvalidValue(
            f"'{raw}' is not an extension (2 to 10 digits)",
            field="extension",
            reason="not_extension",
            params={"value": raw},
        )
    owner = await facts.extension_owner(location.id, ext)
    if owner is not None and owner != self_id:
        raise ExtensionTaken(
            f"extension {ext} is already used in location '{location.name}'",
            field="extension",
            params={"value": ext, "location": location.name},
        )
    return ext


async def check_calling(
    facts: Facts, package: str, inp: SubscriberInput, current: OrgUser | None = None
) -> tuple[uuid.UUID | None, str | None, str | None]:
    """``(location_id, phone_number, extension)`` for ``package``."""
    if not packages.PACKAGES[package].calling:
        # A location given for a package without calling is accepted and ignored: wxcadm's
        # add_subscriber always sends one (docs/api-compatibility.md). A number or an
        # extension would be lost, so those are refused.
        for name in ("phone_number", "extension"):
            if clean_text(getattr(inp, name)) is not None:
                raise InvalidValue(
                    f"only calling packages take a phone number or extension "
                    f"('{package}' has no calling)",
                    field=name,
                )
        return None, None, None
    self_id = current.id if current is not None else None
    location: Place | None = None
    ref = clean_text(inp.location)
    if ref is not None:
        location = await facts.location(ref)
        if location is None:
            raise NotFound("location not found in the customer's organization", field="location")
    elif current is not None and current.location_id is not None:
        location = await facts.location_by_id(current.location_id)
    if location is None:
        location = await facts.headquarters()
    if location is None:
        raise NoCallingLocation(
            "the customer has no headquarters calling location; give a locationId",
            field="location",
        )
    same_place = current is not None and current.location_id == location.id
    phone: str | None = None
    raw_phone = clean_text(inp.phone_number)
    if raw_phone is not None:
        phone = await check_number(facts, location, raw_phone, self_id)
    elif current is not None and same_place and "phone_number" not in inp.given:
        phone = current.phone_number
    ext: str | None = None
    raw_ext = clean_text(inp.extension)
    if raw_ext is not None:
        ext = await check_extension(facts, location, raw_ext, self_id)
    elif current is not None and same_place and "extension" not in inp.given:
        ext = current.extension
    if phone is None and ext is None:
        raise CallingNeedsNumber(
            f"'{package}' is a calling package: give a primaryPhoneNumber or an extension",
            field="phone_number",
        )
    return location.id, phone, ext


# --- plans ---------------------------------------------------------------------------------


def check_shape(inp: SubscriberInput) -> tuple[str, str]:
    """The checks that need no database: email and package."""
    return check_email(inp.email), choose_package(inp)


async def plan_new(facts: Facts, inp: SubscriberInput, principal: Principal) -> Plan:
    """Every rule for a new subscriber; raises the first problem (an :class:`ApiError`)."""
    email, package = check_shape(inp)
    customer = facts.customer
    check_customer(customer)
    first, last = check_names(inp)
    check_customer_package(customer, package)
    roles = check_roles(inp.roles)
    check_admin_tier(customer, roles, package)
    status, moves = await check_email_free(facts, email, principal)
    await check_limit(facts, package)
    location_id, phone, ext = await check_calling(facts, package, inp)
    return Plan(
        email=email,
        package=package,
        first_name=first,
        last_name=last,
        location_id=location_id,
        phone_number=phone,
        extension=ext,
        roles=roles,
        status=status,
        moves_user_id=moves,
    )


def new_subscriber(
    customer: CustomerFacts, plan: Plan, now: datetime | None = None
) -> NewSubscriber:
    """The row a plan writes."""
    now = now or utcnow()
    assert customer.org_id is not None
    return NewSubscriber(
        id=plan.user_id,
        partner_id=customer.partner_id,
        customer_id=customer.id,
        org_id=customer.org_id,
        email=plan.email,
        first_name=plan.first_name,
        last_name=plan.last_name,
        roles=plan.roles,
        package=plan.package,
        location_id=plan.location_id,
        phone_number=plan.phone_number,
        extension=plan.extension,
        status=plan.status,
        created=now,
        last_status_change=now,
    )


def as_user(row: NewSubscriber) -> OrgUser:
    """``row`` as an ORM object (not attached to a session)."""
    return OrgUser(
        id=row.id,
        partner_id=row.partner_id,
        customer_id=row.customer_id,
        org_id=row.org_id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        roles=row.roles,
        package=row.package,
        location_id=row.location_id,
        phone_number=row.phone_number,
        extension=row.extension,
        status=row.status,
        created=row.created,
        last_status_change=row.last_status_change,
    )


def new_user(customer: CustomerFacts, plan: Plan, now: datetime | None = None) -> OrgUser:
    return as_user(new_subscriber(customer, plan, now))


def integrity_problem(exc: IntegrityError | psycopg.IntegrityError) -> ApiError | None:
    """The clean error for a constraint the database enforced (a lost race)."""
    return constraint_problem(violated_constraint(exc))


def constraint_problem(name: str) -> ApiError | None:
    """The clean error for the violated constraint ``name`` (``None`` if not ours)."""
    if name == "uq_org_users_phone_number":
        return NumberError("the number is already assigned", field="phone_number")
    if name == "fk_org_users_location_number_phone_numbers":
        return NumberError(
            "the number is not in the inventory of the subscriber's location",
            field="phone_number",
        )
    if name == "uq_org_users_location_extension":
        return ExtensionTaken("the extension is already used in the location", field="extension")
    if name in ("uq_org_users_email", "uq_org_users_customer_email", IDENTITY_CONSTRAINT):
        return EmailTaken("the email already belongs to a user", field="email")
    if name == "fk_org_users_location_id_locations":
        return NotFound("location not found in the customer's organization", field="location")
    if name == DOMAIN_FAMILY_CONSTRAINT:
        return domain_of_another_family(None, field="email")
    return None


async def flush_or_refuse(repo: SubscriberRepository) -> None:
    exc = await repo.flush()
    if exc is not None:
        problem = integrity_problem(exc)
        if problem is None:
            raise exc
        raise problem from None


async def customer_by_ref(repo: SubscriberRepository, ref: str | None) -> Customer:
    if clean_text(ref) is None:
        raise MissingField("is required", field="customer")
    customer_id = ids.decode("CUSTOMER", (ref or "").strip())
    customer = await repo.customer(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("customer not found", field="customer")
    return customer


async def get(repo: SubscriberRepository, user_id: uuid.UUID | None) -> OrgUser:
    repo.principal.require(READ)
    user = await repo.get(user_id) if user_id else None
    if user is None:
        raise NotFound("Subscriber not found")
    return user


# --- look-ups shared by the operations -----------------------------------------------------


async def customer_of(repo: SubscriberRepository, customer_ref: str) -> Customer:
    customer_id = ids.decode("CUSTOMER", customer_ref.strip())
    customer = await repo.customer(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def decode_user(ref: str) -> uuid.UUID | None:
    return ids.decode("PEOPLE", ref) or ids.decode("SUBSCRIBER", ref)


async def user_of(repo: SubscriberRepository, customer: Customer, user_ref: str) -> OrgUser:
    user_id = decode_user(user_ref)
    user = await repo.get(user_id) if user_id else None
    if user is None or user.customer_id != customer.id:
        raise NotFound("User not found in this organization")
    return user


# --- precheck ------------------------------------------------------------------------------


@dataclass
class PrecheckInput:
    subscriber: SubscriberInput
    provisioning_id: str | None = None
    primary_email: str | None = None
    has_customer_info: bool = False


# --- answers ---------------------------------------------------------------------------------


def wire_status(user: OrgUser | SubscriberListing | NewSubscriber) -> str:
    return PENDING if user.status == PENDING else PROVISIONED


def describe(problem: ApiError, where: dict[str, str] = WIRE_FIELDS) -> str:
    """``problem``'s description prefixed with its field's name."""
    name = where.get(problem.field or "")
    if name and not problem.description.startswith(name + ":"):
        return f"{name}: {problem.description}"
    return problem.description


def with_wire_names(exc: ApiError) -> ApiError:
    """``exc`` with the subscribers' wire names of its fields (:data:`WIRE_FIELDS`)."""
    return errors.with_wire_names(exc, WIRE_FIELDS)
