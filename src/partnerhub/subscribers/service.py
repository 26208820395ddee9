"""Rules for wholesale subscribers (CONTRACT section 4), administrators and roles (S25, S26).

A subscriber is a user of a customer organization (``org_users``). The rules are written
once, over a small :class:`Facts` interface, and used by the API (one request, facts read
from the database), the precheck (same, nothing written) and the bulk import (facts loaded
once for the whole file and updated row by row, so that two rows claiming the same number
conflict exactly as two requests would).

Order of the checks for a new subscriber: ``email`` (1002/1003), ``package``/``packages``
(1008/1003), the customer (404, 409 when not provisioned), the package among the customer's
packages (1003), administrator roles and tier (1003/1011), the email free (409 ``10022``, or
``pending_user_migration``), the package limit (1010), then calling: location (404/1006),
number or extension required (1009), number (1013), extension (1003, 409 ``1210``).

``pending_user_migration`` (202): the email belongs to a user of an organization of another
partner, who holds no administrator role there. The subscriber is recorded as pending (its
number and extension are reserved) until the user consents to the move:
``consentMove`` emails the user a link; accepting it removes the user from the other
organization and the subscriber becomes ``provisioned``. Emails of users of this partner's
own organizations (or of another organization's administrators) answer 409 ``10022``.

The move writes into another tenant, so only the user decides it (issue 10, docs/security.md
"Consent moves"): the link is emailed to the user alone (the requesting partner's outbox shows
it hidden), expires after ``PARTNERHUB_INVITATION_HOURS``, and is accepted only by the user
signed in to their current organization's account (:func:`complete_move` takes that user); the
losing organization gets an entry in its history and an email to its administrators.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from partnerhub import ids
from partnerhub.catalog import customer_roles, packages
from partnerhub.catalog.roles import PRECHECK_SCOPE
from partnerhub.errors import (
    ApiError,
    Busy,
    Conflict,
    Forbidden,
    InvalidValue,
    MissingField,
    NotFound,
    ValidationFailed,
)
from partnerhub.identity.repository import IdentityEmailRepository
from partnerhub.identity.service import IDENTITY_CONSTRAINT, refuse_other_identity
from partnerhub.kit.scope import Principal
from partnerhub.kit.validators import normalize_email
from partnerhub.models import Customer, CustomerEvent, Location, OrgUser
from partnerhub.models.base import utcnow
from partnerhub.models.identity_email import ORG_USER
from partnerhub.numbers.service import NumberError, violated_constraint
from partnerhub.subscribers.repository import (
    PENDING,
    EmailUser,
    NumberFact,
    SubscriberFilters,
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


class Facts:
    """What the rules need to know about the database, for one customer."""

    customer: Customer

    async def email_users(self, email: str) -> list[EmailUser]:
        raise NotImplementedError

    async def identity_kind(self, email: str) -> str | None:
        """Which kind of account holds ``email`` (``identity_emails``; None: free)."""
        raise NotImplementedError

    async def location(self, ref: str) -> Location | None:
        raise NotImplementedError

    async def location_by_id(self, location_id: uuid.UUID) -> Location | None:
        raise NotImplementedError

    async def headquarters(self) -> Location | None:
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


class DbFacts(Facts):
    """Facts read from the database, for one request."""

    def __init__(self, repo: SubscriberRepository, customer: Customer) -> None:
        self.repo = repo
        self.customer = customer
        self._hq: Location | None = None

    async def email_users(self, email: str) -> list[EmailUser]:
        return await self.repo.users_with_email([email])

    async def identity_kind(self, email: str) -> str | None:
        return await IdentityEmailRepository(self.repo.session).kind(email)

    async def location(self, ref: str) -> Location | None:
        location_id = ids.decode("LOCATION", ref)
        return await self.location_by_id(location_id) if location_id else None

    async def location_by_id(self, location_id: uuid.UUID) -> Location | None:
        return await self.repo.location(self.customer.id, location_id)

    async def headquarters(self) -> Location | None:
        if self._hq is None:
            from partnerhub.locations.service import headquarters_of

            self._hq = await headquarters_of(self.repo.session, self.customer)
        return self._hq

    async def number(self, e164: str) -> NumberFact | None:
        facts = await self.repo.number_facts(self.customer.id, [e164])
        return facts[0] if facts else None

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        owners = await self.repo.extension_owners([(location_id, extension)])
        return owners.get((location_id, extension))

    async def package_count(self, package: str) -> int:
        await self.repo.lock_package(self.customer.id, package)
        return (await self.repo.package_counts(self.customer.id)).get(package, 0)


# --- single rules --------------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _valid_email(text: str) -> str | None:
    normalized = normalize_email(text)
    return normalized.lower() if normalized is not None else None


def check_email(raw: str | None, name: str = "email") -> str:
    text = _text(raw)
    if text is None:
        raise MissingField("is required", field=name)
    if len(text) > 320:
        raise InvalidValue("at most 320 characters", field=name)
    valid = _valid_email(text)
    if valid is None:
        raise InvalidValue(f"'{text}' is not a valid email address", field=name)
    return valid


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
            f"'{name}' is not a subscriber package (allowed: {', '.join(allowed)})", field=wire
        )
    return name


def check_customer(customer: Customer) -> None:
    if customer.status not in USABLE_CUSTOMER_STATUSES or customer.org_id is None:
        raise Busy(
            f"customerId: the customer is {customer.status}; subscribers can be added and "
            "changed once it is provisioned",
            field="customer",
        )


def check_customer_package(customer: Customer, package: str) -> None:
    if package not in (customer.packages or []):
        raise InvalidValue(
            f"'{package}' is not one of the customer's packages "
            f"({', '.join(customer.packages or []) or 'none'})",
            field="package",
        )


def package_limit(customer: Customer, package: str) -> int | None:
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
        )


def creation_package(customer: Customer) -> str | None:
    """The package the organization was created with (S26): the one recorded at creation
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
    customer: Customer, roles: list[str], package: str | None, current: str | None = None
) -> None:
    """S26 / CONTRACT 1011: administrators hold at least the organization's creation tier,
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
        )


def check_names(inp: SubscriberInput) -> tuple[str | None, str | None]:
    out = []
    for attr in ("first_name", "last_name"):
        value = _text(getattr(inp, attr))
        if value is not None and len(value) > NAME_MAX:
            raise InvalidValue(f"at most {NAME_MAX} characters", field=attr)
        out.append(value)
    return out[0], out[1]


async def check_email_free(
    facts: Facts, email: str, principal: Principal, self_id: uuid.UUID | None = None
) -> tuple[str, uuid.UUID | None]:
    """``(status, user to move)`` for a new subscriber with ``email``; 409 when taken (also
    when a partner administrator holds it: one identity per address)."""
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
                )
            continue
        if user.partner_id == principal.partner_id or user.roles:
            raise EmailTaken(f"'{email}' already belongs to a user", field="email")
        status, moves = PENDING, user.id
    return status, moves


async def check_number(
    facts: Facts, location: Location, raw: str, self_id: uuid.UUID | None
) -> str:
    e164 = facts.parse_number(raw)
    if e164 is None:
        raise NumberError(f"'{raw}' is not a valid E.164 phone number", field="phone_number")
    fact = await facts.number(e164)
    if fact is None:
        raise NumberError(f"{e164} is not in the customer's number inventory", field="phone_number")
    if fact.location_id != location.id:
        raise NumberError(
            f"{e164} is in another location's inventory, not in '{location.name}'",
            field="phone_number",
        )
    if fact.main:
        raise NumberError(
            f"{e164} is the main number of location '{location.name}'", field="phone_number"
        )
    if fact.owner_id is not None and fact.owner_id != self_id:
        raise NumberError(f"{e164} is already assigned", field="phone_number")
    return e164


async def check_extension(
    facts: Facts, location: Location, raw: str, self_id: uuid.UUID | None
) -> str:
    ext = raw.strip()
    if not EXTENSION_RE.fullmatch(ext):
        raise InvalidValue(f"'{raw}' is not an extension (2 to 10 digits)", field="extension")
    owner = await facts.extension_owner(location.id, ext)
    if owner is not None and owner != self_id:
        raise ExtensionTaken(
            f"extension {ext} is already used in location '{location.name}'", field="extension"
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
            if _text(getattr(inp, name)) is not None:
                raise InvalidValue(
                    f"only calling packages take a phone number or extension "
                    f"('{package}' has no calling)",
                    field=name,
                )
        return None, None, None
    self_id = current.id if current is not None else None
    location: Location | None = None
    ref = _text(inp.location)
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
    raw_phone = _text(inp.phone_number)
    if raw_phone is not None:
        phone = await check_number(facts, location, raw_phone, self_id)
    elif current is not None and same_place and "phone_number" not in inp.given:
        phone = current.phone_number
    ext: str | None = None
    raw_ext = _text(inp.extension)
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


def new_user(customer: Customer, plan: Plan, now: datetime | None = None) -> OrgUser:
    now = now or utcnow()
    assert customer.org_id is not None
    return OrgUser(
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


def integrity_problem(exc: IntegrityError) -> ApiError | None:
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
    return None


async def _flush(repo: SubscriberRepository) -> None:
    exc = await repo.flush()
    if exc is not None:
        problem = integrity_problem(exc)
        if problem is None:
            raise exc
        raise problem from None


async def _customer(repo: SubscriberRepository, ref: str | None) -> Customer:
    if _text(ref) is None:
        raise MissingField("is required", field="customer")
    customer_id = ids.decode("CUSTOMER", (ref or "").strip())
    customer = await repo.customer(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("customer not found", field="customer")
    return customer


# --- operations ----------------------------------------------------------------------------


async def create(repo: SubscriberRepository, inp: SubscriberInput) -> OrgUser:
    repo.principal.require(WRITE)
    if _text(inp.customer) is None:
        raise MissingField("is required", field="customer")
    check_shape(inp)
    customer = await _customer(repo, inp.customer)
    plan = await plan_new(DbFacts(repo, customer), inp, repo.principal)
    user = new_user(customer, plan)
    repo.add(user)
    await _flush(repo)
    return user


async def get(repo: SubscriberRepository, user_id: uuid.UUID | None) -> OrgUser:
    repo.principal.require(READ)
    user = await repo.get(user_id) if user_id else None
    if user is None:
        raise NotFound("Subscriber not found")
    return user


async def update(
    repo: SubscriberRepository, user_id: uuid.UUID | None, inp: SubscriberInput
) -> OrgUser:
    """Change a subscriber's package and calling settings (full package replacement)."""
    repo.principal.require(WRITE)
    user = await get(repo, user_id)
    package = choose_package(inp)
    customer = await repo.customer(user.customer_id)
    if customer is None:  # pragma: no cover - the user row cascades with its customer
        raise NotFound("Subscriber not found")
    check_customer(customer)
    check_customer_package(customer, package)
    check_admin_tier(customer, list(user.roles or []), package, current=user.package)
    facts = DbFacts(repo, customer)
    if package != user.package:
        await check_limit(facts, package)
    location_id, phone, ext = await check_calling(facts, package, inp, current=user)
    first, last = check_names(inp)
    if _text(inp.first_name) is not None:
        user.first_name = first
    if _text(inp.last_name) is not None:
        user.last_name = last
    user.package = package
    user.location_id = location_id
    user.phone_number = phone
    user.extension = ext
    await _flush(repo)
    return user


async def delete(repo: SubscriberRepository, user_id: uuid.UUID | None) -> None:
    """Remove a subscriber; its number and extension become available again."""
    repo.principal.require(WRITE)
    user = await get(repo, user_id)
    await repo.delete_user(user.id)
    await _flush(repo)


# --- listing -------------------------------------------------------------------------------


def parse_instant(name: str, raw: str | None) -> datetime | None:
    """ISO 8601 or epoch milliseconds (CONTRACT section 1)."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"-?[0-9]{1,15}", text):
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except (ValueError, OverflowError, OSError):
        raise InvalidValue(
            f"{name}: '{text}' is not an ISO 8601 date-time or epoch milliseconds", field=name
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ListQuery:
    customer_id: str | None = None
    person_id: str | None = None
    external_customer_id: str | None = None
    email: str | None = None
    status: list[str] = field(default_factory=list)
    after: str | None = None
    last_status_change: str | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    search: str | None = None  # portal search: part of the email or name


_NOTHING = SubscriberFilters(person_id=uuid.UUID(int=0), customer_id=uuid.UUID(int=0))


def filters_of(query: ListQuery) -> SubscriberFilters:
    statuses: list[str] = []
    for raw in query.status:
        for part in raw.split(","):
            value = part.strip()
            if not value:
                continue
            if value not in STATUSES:
                raise InvalidValue(
                    f"status: '{value}' is not allowed ({', '.join(STATUSES)})", field="status"
                )
            statuses.append(value)
    sort_by = (query.sort_by or "created").strip()
    if sort_by not in ("created", "lastStatusChange"):
        raise InvalidValue(
            f"sortBy: '{sort_by}' is not allowed (created, lastStatusChange)", field="sortBy"
        )
    order = (query.sort_order or "ASC").strip().upper()
    if order not in ("ASC", "DESC"):
        raise InvalidValue(f"sortOrder: '{query.sort_order}' is not allowed (ASC, DESC)")
    after = parse_instant("after", query.after)
    changed = parse_instant("lastStatusChange", query.last_status_change)
    customer_id = person_id = None
    if _text(query.customer_id) is not None:
        customer_id = ids.decode("CUSTOMER", (query.customer_id or "").strip())
        if customer_id is None:
            return _NOTHING
    if _text(query.person_id) is not None:
        person_id = ids.decode("PEOPLE", (query.person_id or "").strip())
        if person_id is None:
            return _NOTHING
    return SubscriberFilters(
        customer_id=customer_id,
        person_id=person_id,
        external_customer_id=_text(query.external_customer_id),
        email=_text(query.email),
        statuses=tuple(dict.fromkeys(statuses)),
        after=after,
        last_status_change=changed,
        sort_by=sort_by,
        descending=order == "DESC",
        search=_text(query.search),
    )


async def list_subscribers(
    repo: SubscriberRepository, query: ListQuery, offset: int, limit: int
) -> list[OrgUser]:
    repo.principal.require(READ)
    return await repo.page(filters_of(query), offset, limit)


async def list_subscriber_rows(
    repo: SubscriberRepository, query: ListQuery, offset: int, limit: int
) -> list[SubscriberListing]:
    """:func:`list_subscribers` as plain rows of the listed columns (the API list)."""
    repo.principal.require(READ)
    return await repo.listing(filters_of(query), offset, limit)


# --- precheck ------------------------------------------------------------------------------


@dataclass
class PrecheckInput:
    subscriber: SubscriberInput
    provisioning_id: str | None = None
    primary_email: str | None = None
    has_customer_info: bool = False


async def precheck(repo: SubscriberRepository, inp: PrecheckInput) -> str:
    """The three variants of CONTRACT section 4; returns the success description.

    1. ``customerId`` + ``email``: the customer is usable and the email is free.
    2. ``provisioningId`` + ``customerInfo.primaryEmail`` + ``email``: a customer about to be
       created from that template could take this subscriber (template exists, emails valid
       and free, package valid when given).
    3. The full provisioning payload (``customerId`` + ``email`` + package): every rule of
       :func:`plan_new`, nothing written.
    """
    repo.principal.require(WRITE, PRECHECK_SCOPE)
    sub = inp.subscriber
    email = check_email(sub.email)
    has_package = sub.package is not None or sub.packages is not None
    if _text(sub.customer) is not None:
        customer = await _customer(repo, sub.customer)
        facts = DbFacts(repo, customer)
        if has_package:
            plan = await plan_new(facts, sub, repo.principal)
        else:
            check_customer(customer)
            status, _ = await check_email_free(facts, email, repo.principal)
            plan = Plan(email=email, package="", status=status)
        if plan.status == PENDING:
            return (
                f"{PRECHECK_OK} The user of '{email}' belongs to another organization and "
                "will be asked to consent to the move (pending_user_migration)."
            )
        return PRECHECK_OK
    if _text(inp.provisioning_id) is None:
        raise MissingField("customerId or provisioningId is required", field="customer")
    from partnerhub.onboarding.repository import TemplateRepository

    template = await TemplateRepository(repo.session, repo.principal).by_provisioning_id(
        (inp.provisioning_id or "").strip()
    )
    if template is None:
        raise NotFound("onboarding template not found", field="provisioning_id")
    if not inp.has_customer_info:
        raise MissingField("is required", field="primary_email")
    check_email(inp.primary_email, "primary_email")
    if has_package:
        choose_package(sub)
    refuse_other_identity(ORG_USER, email, await IdentityEmailRepository(repo.session).kind(email))
    for user in await repo.users_with_email([email]):
        if user.status != PENDING and (user.partner_id == repo.principal.partner_id or user.roles):
            raise EmailTaken(f"'{email}' already belongs to a user", field="email")
    return PRECHECK_OK


# --- administrators and roles --------------------------------------------------------------


async def customer_of(repo: SubscriberRepository, customer_ref: str) -> Customer:
    customer_id = ids.decode("CUSTOMER", customer_ref.strip())
    customer = await repo.customer(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def decode_user(ref: str) -> uuid.UUID | None:
    return ids.decode("PEOPLE", ref) or ids.decode("SUBSCRIBER", ref)


async def administrators(
    repo: SubscriberRepository, customer_ref: str, offset: int, limit: int
) -> tuple[Customer, list[OrgUser]]:
    repo.principal.require(READ)
    customer = await customer_of(repo, customer_ref)
    return customer, await repo.administrators(customer.id, offset, limit)


async def user_of(repo: SubscriberRepository, customer: Customer, user_ref: str) -> OrgUser:
    user_id = decode_user(user_ref)
    user = await repo.get(user_id) if user_id else None
    if user is None or user.customer_id != customer.id:
        raise NotFound("User not found in this organization")
    return user


async def set_roles(
    repo: SubscriberRepository, customer_ref: str, user_ref: str, roles: list[str]
) -> tuple[Customer, OrgUser]:
    """Give a user of the organization its administrator roles (replacing the previous ones);
    an empty list makes it a plain user again."""
    repo.principal.require(WRITE)
    customer = await customer_of(repo, customer_ref)
    check_customer(customer)
    user = await user_of(repo, customer, user_ref)
    chosen = check_roles(roles)
    if chosen and user.status == PENDING:
        raise InvalidValue(
            "a subscriber waiting for its user's consent cannot be an administrator",
            field="admin_role",
        )
    check_admin_tier(customer, chosen, user.package)
    user.roles = chosen
    await _flush(repo)
    return customer, user


# --- consent to a user move ----------------------------------------------------------------


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class ConsentMail:
    user: OrgUser
    customer: Customer
    token: str


async def start_consent(repo: SubscriberRepository, user_id: uuid.UUID | None) -> ConsentMail:
    """``consentMove``: a fresh consent link for a ``pending_user_migration`` subscriber
    (any earlier link stops working)."""
    repo.principal.require(WRITE)
    user = await get(repo, user_id)
    if user.status != PENDING:
        raise InvalidValue(
            f"the subscriber is {user.status or PROVISIONED}; the consent email is only for "
            "pending_user_migration subscribers"
        )
    customer = await repo.customer(user.customer_id)
    assert customer is not None
    token = secrets.token_urlsafe(32)
    user.consent_token_hash = _hash(token)
    user.consent_sent = utcnow()
    await _flush(repo)
    return ConsentMail(user, customer, token)


class ConsentRefused(Exception):
    """A consent link that cannot be used: ``invalid`` (unknown, replaced, already used, or no
    account to move any more) or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def consent_lifetime() -> timedelta:
    from partnerhub import runtime

    return timedelta(hours=runtime.settings().invitation_hours)


@dataclass(frozen=True)
class ConsentTarget:
    """A usable consent link: the pending subscriber, its (new) organization, and the account
    that would move (the user of the other organization)."""

    user: OrgUser
    customer: Customer
    holder: OrgUser


async def consent_target(repo: SubscriberRepository, token: str) -> ConsentTarget:
    user = await repo.by_consent_hash(_hash(token)) if token and len(token) <= 200 else None
    customer = await repo.session.get(Customer, user.customer_id) if user else None
    if user is None or customer is None:
        raise ConsentRefused("invalid")
    if user.consent_sent is None or user.consent_sent + consent_lifetime() <= utcnow():
        raise ConsentRefused("expired")
    holder = await repo.other_holder(user)
    if holder is None:
        raise ConsentRefused("invalid")
    return ConsentTarget(user, customer, holder)


@dataclass(frozen=True)
class MoveDone:
    user: OrgUser
    customer: Customer
    # The losing organization (its administrators are told) and the user who left it.
    left: Customer | None
    holder_email: str
    holder_id: uuid.UUID


async def complete_move(
    repo: SubscriberRepository, token: str, signed_in_user_id: uuid.UUID
) -> MoveDone:
    """The user consented: leave the other organization, become ``provisioned`` here.

    ``signed_in_user_id`` is the customer-portal user whose session accepted: only the account
    that moves may accept (anyone else, the requesting partner included, is refused).
    """
    target = await consent_target(repo, token)
    user, holder = target.user, target.holder
    if holder.id != signed_in_user_id:
        raise Forbidden("Only the owner of the account, signed in, can accept this move")
    if holder.roles:
        raise EmailTaken(
            "the account administers its current organization and cannot move",
            field="email",
        )
    left = await repo.session.get(Customer, holder.customer_id)
    await repo.delete_user(holder.id)
    await _flush(repo)
    now = utcnow()
    user.status = PROVISIONED
    user.last_status_change = now
    user.consent_token_hash = None
    if left is not None:
        # The losing organization's history (unscoped write: the user's own decision).
        repo.add_event(
            CustomerEvent(
                id=uuid.uuid4(),
                partner_id=left.partner_id,
                customer_id=left.id,
                kind="audit",
                status=None,
                detail={
                    "action": "user_moved_away",
                    "actorType": "user",
                    "actorId": str(holder.id),
                    "actorEmail": holder.email,
                    "userEmail": holder.email,
                },
                created=now,
            )
        )
    await _flush(repo)
    return MoveDone(user, target.customer, left, holder.email, holder.id)


async def notify_left_organization(repo: SubscriberRepository, done: MoveDone) -> list[uuid.UUID]:
    """Email the losing organization's administrators that the user left (ids of the emails;
    hand them to the delivery job after the commit)."""
    from partnerhub.locations.service import system_principal
    from partnerhub.notifications import service as notifications

    left = done.left
    if left is None:
        return []
    theirs = SubscriberRepository(repo.session, system_principal(left.partner_id))
    admins = await theirs.administrators(left.id, 0, 100)
    brand = str(((left.settings or {}).get("email") or {}).get("brandName") or "PartnerHub")
    kind = "user_moved_away"
    language = notifications.pick_language(
        kind, left.language, (left.settings or {}).get("defaultEmailLanguage")
    )
    out = []
    for admin in admins:
        email_id = await notifications.queue(
            repo.session,
            partner_id=left.partner_id,
            customer_id=left.id,
            dedupe_key=f"org-user:{done.holder_id}:moved-away:{admin.id}",
            kind=kind,
            to=admin.email,
            language=language,
            context={
                "brand_name": brand,
                "customer_name": left.name or left.external_id,
                "user_email": done.holder_email,
                "when": f"{utcnow():%Y-%m-%d %H:%M}",
            },
            from_name=brand,
        )
        if email_id is not None:
            out.append(email_id)
    return out


def wire_status(user: OrgUser | SubscriberListing) -> str:
    return PENDING if user.status == PENDING else PROVISIONED


def describe(problem: ApiError, where: dict[str, str] = WIRE_FIELDS) -> str:
    """``problem``'s description prefixed with its field's name."""
    name = where.get(problem.field or "")
    if name and not problem.description.startswith(name + ":"):
        return f"{name}: {problem.description}"
    return problem.description


def with_wire_names(exc: ApiError) -> ApiError:
    problems = getattr(exc, "problems", None) or [exc]
    for problem in problems:
        problem.description = describe(problem)
    return ValidationFailed(problems) if len(problems) > 1 else problems[0]
