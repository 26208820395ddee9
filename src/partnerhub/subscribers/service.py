"""The operations on wholesale subscribers: create, update, delete, precheck.

The rules themselves are in :mod:`partnerhub.subscribers.rules` (shared with the portal and
the bulk import); this module reads their facts and writes the outcome. A new subscriber costs
two statements besides the bearer check: one reading every fact the rules need
(:meth:`SubscriberRepository.new_subscriber_facts`) and one INSERT, each on its own in
autocommit (the route's ``kit.web.work``: no transaction, no ORM session). A rare case costs a
query or two more, never a second path: a package with a limit (its lock and its count, which
begin the transaction the INSERT then joins), a headquarters recorded by provisioning but not
yet materialized, a location or number the facts statement was not asked about. A constraint
the INSERT violates (a concurrent request won the number, the extension or the email) is
answered as the rule it enforces would have answered (:func:`rules.constraint_problem`).

Every name of the subscriber modules stays importable from here (``service.X``): the listing
(:mod:`.listing`), administrators and roles (:mod:`.roles`) and the consent to a user move
(:mod:`.consent`) live beside it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.catalog.roles import PRECHECK_SCOPE
from partnerhub.errors import ApiError, Conflict, MissingField, NotFound
from partnerhub.identity.repository import IdentityEmailRepository
from partnerhub.identity.service import refuse_domain_of_another_family, refuse_other_identity
from partnerhub.kit.validators import email_domain
from partnerhub.models import Customer, Location, OrgUser, SubscriberImport
from partnerhub.models.identity_email import ORG_USER
from partnerhub.subscribers.consent import (
    ConsentMail,
    ConsentRefused,
    ConsentTarget,
    MoveDone,
    complete_move,
    consent_lifetime,
    consent_target,
    notify_left_organization,
    start_consent,
)
from partnerhub.subscribers.listing import (
    ListQuery,
    filters_of,
    list_subscriber_rows,
    list_subscribers,
    parse_instant,
)
from partnerhub.subscribers.repository import (
    PENDING,
    CustomerKey,
    CustomerRow,
    EmailUser,
    NewSubscriber,
    NewSubscriberFacts,
    NumberFact,
    SubscriberListing,
    SubscriberRepository,
)
from partnerhub.subscribers.roles import (
    LAST_FULL_ADMIN,
    LAST_FULL_ADMIN_CODE,
    administrators,
    keep_a_full_admin,
    set_roles,
)
from partnerhub.subscribers.rules import (
    EMAIL_USED_CODE,
    EXTENSION_RE,
    EXTENSION_TAKEN_CODE,
    NAME_MAX,
    PRECHECK_OK,
    PROVISIONED,
    READ,
    STATUSES,
    USABLE_CUSTOMER_STATUSES,
    WIRE_FIELDS,
    WRITE,
    AdminTier,
    CallingNeedsNumber,
    CustomerFacts,
    EmailTaken,
    ExtensionTaken,
    Facts,
    LimitReached,
    NoCallingLocation,
    PackageChoice,
    Place,
    Plan,
    PrecheckInput,
    SubscriberInput,
    as_user,
    check_admin_tier,
    check_calling,
    check_customer,
    check_customer_package,
    check_email,
    check_email_free,
    check_extension,
    check_limit,
    check_names,
    check_number,
    check_roles,
    check_shape,
    choose_package,
    clean_text,
    constraint_problem,
    creation_package,
    customer_by_ref,
    customer_of,
    decode_user,
    describe,
    flush_or_refuse,
    get,
    integrity_problem,
    new_subscriber,
    new_user,
    package_limit,
    plan_new,
    user_of,
    wire_status,
    with_wire_names,
)

__all__ = [
    "EMAIL_USED_CODE",
    "EXTENSION_RE",
    "EXTENSION_TAKEN_CODE",
    "LAST_FULL_ADMIN",
    "LAST_FULL_ADMIN_CODE",
    "NAME_MAX",
    "PENDING",
    "PRECHECK_OK",
    "PROVISIONED",
    "READ",
    "STATUSES",
    "USABLE_CUSTOMER_STATUSES",
    "WIRE_FIELDS",
    "WRITE",
    "AdminTier",
    "CallingNeedsNumber",
    "ConsentMail",
    "ConsentRefused",
    "ConsentTarget",
    "CustomerFacts",
    "DbFacts",
    "EmailTaken",
    "ExtensionTaken",
    "Facts",
    "LimitReached",
    "ListQuery",
    "MoveDone",
    "NoCallingLocation",
    "PackageChoice",
    "Place",
    "Plan",
    "PrecheckInput",
    "PreparedFacts",
    "Provisioned",
    "SubscriberInput",
    "administrators",
    "as_user",
    "check_admin_tier",
    "check_calling",
    "check_customer",
    "check_customer_package",
    "check_email",
    "check_email_free",
    "check_extension",
    "check_limit",
    "check_names",
    "check_number",
    "check_roles",
    "check_shape",
    "choose_package",
    "clean_text",
    "complete_move",
    "consent_lifetime",
    "consent_target",
    "constraint_problem",
    "create",
    "creation_package",
    "customer_by_ref",
    "customer_of",
    "decode_user",
    "delete",
    "describe",
    "filters_of",
    "flush_or_refuse",
    "get",
    "integrity_problem",
    "keep_a_full_admin",
    "list_subscriber_rows",
    "list_subscribers",
    "new_subscriber",
    "new_user",
    "notify_left_organization",
    "package_limit",
    "parse_instant",
    "plan_new",
    "precheck",
    "provision",
    "set_roles",
    "show",
    "start_consent",
    "update",
    "user_of",
    "wire_status",
    "with_wire_names",
]


# --- facts ---------------------------------------------------------------------------------


async def other_family_domain(
    repo: SubscriberRepository, email: str, partner_id: uuid.UUID
) -> bool:
    """Whether another partner family's identity provider (not ``partner_id``'s family)
    claims ``email``'s domain (one query)."""
    domain = email_domain(email)
    if domain is None:
        return False
    found = await IdentityEmailRepository(repo.session).other_family_domains([domain], partner_id)
    return domain in found


class DbFacts(Facts[CustomerFacts]):
    """Facts read from the database, for one request."""

    def __init__(self, repo: SubscriberRepository, customer: CustomerFacts) -> None:
        self.repo = repo
        self.customer = customer
        self._hq: Place | None = None

    async def email_users(self, email: str) -> list[EmailUser]:
        return await self.repo.users_with_email([email])

    async def identity_kind(self, email: str) -> str | None:
        return await IdentityEmailRepository(self.repo.session).kind(email)

    async def domain_of_another_family(self, email: str) -> bool:
        return await other_family_domain(self.repo, email, self.customer.partner_id)

    async def location(self, ref: str) -> Place | None:
        location_id = ids.decode("LOCATION", ref)
        return await self.location_by_id(location_id) if location_id else None

    async def location_by_id(self, location_id: uuid.UUID) -> Place | None:
        return await self.repo.location(self.customer.id, location_id)

    async def headquarters(self) -> Place | None:
        if self._hq is None:
            from partnerhub.locations.service import headquarters_of

            # Materializing a recorded headquarters updates the ORM customer.
            customer: Customer | None = (
                self.customer
                if isinstance(self.customer, Customer)
                else await self.repo.customer(self.customer.id)
            )
            if customer is not None:
                self._hq = await headquarters_of(self.repo.session, customer)
        return self._hq

    async def number(self, e164: str) -> NumberFact | None:
        facts = await self.repo.number_facts(self.customer.id, [e164])
        return facts[0] if facts else None

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        owners = await self.repo.extension_owners([(location_id, extension)])
        return owners.get((location_id, extension))

    async def package_count(self, package: str) -> int:
        # Under the package's lock, in the work's transaction (begun here if it had none):
        # the INSERT that follows is in it too, and the lock is held until it commits.
        await self.repo.lock_package(self.customer.id, package)
        return (await self.repo.package_counts(self.customer.id)).get(package, 0)


class PreparedFacts(DbFacts):
    """The facts of one new subscriber, read beforehand in one statement; a fact it was not
    asked for is read as :class:`DbFacts` reads it (one query)."""

    def __init__(
        self,
        repo: SubscriberRepository,
        read: NewSubscriberFacts,
        location_id: uuid.UUID | None,
        raw_phone: str | None,
        e164: str | None,
        extension: str | None,
    ) -> None:
        super().__init__(repo, read.customer)
        self.read = read
        self.location_id = location_id  # the location asked for (None: the headquarters)
        self.raw_phone = raw_phone
        self.e164 = e164
        self.extension = extension

    async def email_users(self, email: str) -> list[EmailUser]:
        if email.lower() != self.read.email:
            return await super().email_users(email)
        return self.read.email_users

    async def identity_kind(self, email: str) -> str | None:
        if email.lower() != self.read.email:
            return await super().identity_kind(email)
        return self.read.identity_kind

    async def domain_of_another_family(self, email: str) -> bool:
        if email.lower() != self.read.email:
            return await super().domain_of_another_family(email)
        return self.read.other_family_domain

    async def location(self, ref: str) -> Place | None:
        location_id = ids.decode("LOCATION", ref)
        if location_id is None or location_id != self.location_id:
            return await super().location(ref)
        return self.read.location

    async def headquarters(self) -> Place | None:
        if self.location_id is None and (self.read.location or not self.read.has_hq_record):
            return self.read.location
        # Provisioning recorded a headquarters nobody has created yet: materialize it.
        return await super().headquarters()

    async def number(self, e164: str) -> NumberFact | None:
        if e164 != self.e164:
            return await super().number(e164)
        return self.read.number

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        asked = self.read.location
        if asked is None or location_id != asked.id or extension != self.extension:
            return await super().extension_owner(location_id, extension)
        return self.read.extension_owner

    def parse_number(self, raw: str) -> str | None:
        if raw == self.raw_phone:
            return self.e164
        return super().parse_number(raw)


# --- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Provisioned:
    """A new subscriber as written and its customer."""

    user: NewSubscriber
    customer: CustomerRow


async def provision(repo: SubscriberRepository, inp: SubscriberInput) -> Provisioned:
    """Every rule for a new subscriber (:func:`rules.plan_new`), then one INSERT."""
    repo.principal.require(WRITE)
    if clean_text(inp.customer) is None:
        raise MissingField("is required", field="customer")
    email, package = check_shape(inp)
    customer_id = ids.decode("CUSTOMER", (inp.customer or "").strip())
    if customer_id is None:
        raise NotFound("customer not found", field="customer")
    location_ref = clean_text(inp.location)
    location_id = ids.decode("LOCATION", location_ref) if location_ref is not None else None
    raw_phone = clean_text(inp.phone_number)
    e164 = phones.parse_e164(raw_phone) if raw_phone is not None else None
    extension = clean_text(inp.extension)
    read = await repo.new_subscriber_facts(
        customer_id, email, package, location_id, e164, extension
    )
    if read is None:
        raise NotFound("customer not found", field="customer")
    facts = PreparedFacts(repo, read, location_id, raw_phone, e164, extension)
    plan = await plan_new(facts, inp, repo.principal)
    user = new_subscriber(read.customer, plan)
    lost = await repo.insert_user(user)
    if lost is not None:
        problem = integrity_problem(lost)
        if problem is None:
            raise lost
        raise problem from None
    return Provisioned(user, read.customer)


async def create(repo: SubscriberRepository, inp: SubscriberInput) -> OrgUser:
    """:func:`provision`, for callers that need only the new user (not attached to the
    session)."""
    return as_user((await provision(repo, inp)).user)


async def show(
    repo: SubscriberRepository, user_id: uuid.UUID | None
) -> tuple[SubscriberListing, CustomerKey]:
    """One subscriber as the API shows it, with its customer's keys (one statement)."""
    repo.principal.require(READ)
    found = await repo.shown(user_id) if user_id else None
    if found is None:
        raise NotFound("Subscriber not found")
    return found


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
    if clean_text(inp.first_name) is not None:
        user.first_name = first
    if clean_text(inp.last_name) is not None:
        user.last_name = last
    user.package = package
    user.location_id = location_id
    user.phone_number = phone
    user.extension = ext
    await flush_or_refuse(repo)
    return user


async def delete(repo: SubscriberRepository, user_id: uuid.UUID | None) -> None:
    """Remove a subscriber; its number and extension become available again."""
    repo.principal.require(WRITE)
    user = await get(repo, user_id)
    await keep_a_full_admin(repo, user, [])
    await repo.delete_user(user.id)
    await flush_or_refuse(repo)


# --- precheck ------------------------------------------------------------------------------


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
    if clean_text(sub.customer) is not None:
        customer = await customer_by_ref(repo, sub.customer)
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
    if clean_text(inp.provisioning_id) is None:
        raise MissingField("customerId or provisioningId is required", field="customer")
    from partnerhub.onboarding.repository import TemplateRepository

    template = await TemplateRepository(repo.session, repo.principal).by_provisioning_id(
        (inp.provisioning_id or "").strip()
    )
    if template is None:
        raise NotFound("onboarding template not found", field="provisioning_id")
    if not inp.has_customer_info:
        raise MissingField("is required", field="primary_email")
    primary_email = check_email(inp.primary_email, "primary_email")
    if has_package:
        choose_package(sub)
    refuse_other_identity(ORG_USER, email, await IdentityEmailRepository(repo.session).kind(email))
    for user in await repo.users_with_email([email]):
        if user.status != PENDING and (user.partner_id == repo.principal.partner_id or user.roles):
            raise EmailTaken(
                f"'{email}' already belongs to a user",
                field="email",
                reason="taken",
                params={"value": email},
            )
    # The customer about to be created would be this partner's, and so would the subscriber:
    # the domain-family rule of both addresses (the customers POST refuses the first).
    addresses = {"primary_email": primary_email, "email": email}
    domains = {wire: email_domain(address) for wire, address in addresses.items()}
    elsewhere = await IdentityEmailRepository(repo.session).other_family_domains(
        {d for d in domains.values() if d}, repo.principal.partner_id
    )
    for wire, address in addresses.items():
        refuse_domain_of_another_family(address, domains[wire] in elsewhere, field=wire)
    return PRECHECK_OK


def accepts_users(customer: Customer) -> bool:
    """Whether users can be added to ``customer`` (it is provisioned: :func:`check_customer`)."""
    try:
        check_customer(customer)
    except ApiError:
        return False
    return True


async def location_in(repo: SubscriberRepository, customer: Customer, ref: str) -> Location:
    """The customer's location whose opaque id is ``ref``; 404 (naming the field ``location``)
    for any other."""
    location_id = ids.decode("LOCATION", ref)
    found = await repo.location(customer.id, location_id) if location_id else None
    if found is None:
        raise NotFound("location not found in the customer's organization", field="location")
    return found


async def import_of(
    repo: SubscriberRepository, customer_id: str, import_id: str
) -> tuple[Customer, SubscriberImport]:
    """The customer's bulk import whose opaque id is ``import_id`` (404 for any other)."""
    repo.principal.require(READ)
    customer = await customer_of(repo, customer_id)
    record_id = ids.decode("IMPORT", import_id)
    record = await repo.get_import(customer.id, record_id) if record_id else None
    if record is None:
        raise NotFound("Import not found")
    return customer, record


def import_result(record: SubscriberImport) -> str:
    """The result CSV of a finished import; 409 while it is not ready."""
    if record.result is None:
        raise Conflict(f"The import is {record.status}; its result is not ready", code=1201)
    return record.result
