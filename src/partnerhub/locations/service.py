"""Rules for locations, shared by the API, the portal and customer provisioning.

A location belongs to a customer organization of the acting partner (``orgId``); another
partner's organization is simply not found. Addresses follow the same per-country rules as
customer addresses (:func:`partnerhub.catalog.geo.validate_address`), time zones are IANA
zones of the location's country, languages ISO 639-1 codes with an optional country.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.catalog import geo, languages, timezones
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
from partnerhub.kit.constraints import constraint_errors, constraint_problem
from partnerhub.kit.scope import (
    Principal,
    system_principal,  # subscribers/* take it from here too
)
from partnerhub.locations import inventory
from partnerhub.locations.repository import (
    LocationRepository,
    NewLocation,
    OrgCustomer,
)
from partnerhub.models import Customer, Location
from partnerhub.models.base import utcnow

READ = "partnerhub:locations_read"
WRITE = "partnerhub:locations_write"
NAME_TAKEN_CODE = 1211
IN_USE_CODE = 1214
NAME_MAX = 80
LINE_MAX = 80
BUSY_STATUSES = ("deleting",)

AnyCustomer = TypeVar("AnyCustomer", Customer, OrgCustomer)


@dataclass
class LocationData:
    """A location's editable settings, independent of wire or form shape."""

    name: str = ""
    time_zone: str = ""
    preferred_language: str = ""
    announcement_language: str | None = None
    address1: str = ""
    address2: str | None = None
    city: str = ""
    state: str | None = None
    postal_code: str | None = None
    country: str = ""
    emergency_location_identifier: str | None = None


def region_of(customer: Customer | OrgCustomer) -> str:
    return ids.region_of(customer.data_region)


def org_wire_id(customer: Customer | OrgCustomer) -> str | None:
    """The customer's organization id as the wire shows it (``orgId``)."""
    if customer.org_id is None:
        return None
    return ids.encode("ORGANIZATION", customer.org_id, region_of(customer))


def location_wire_id(location: Location | NewLocation, customer: Customer | OrgCustomer) -> str:
    return ids.encode("LOCATION", location.id, region_of(customer))


def _clean(value: str | None) -> str:
    return (value or "").strip()


def check(data: LocationData) -> list[ApiError]:
    """Validate and normalize ``data`` in place; returns every problem found."""
    problems: list[ApiError] = []

    def text(attr: str, wire: str, required: bool, limit: int) -> None:
        value = _clean(getattr(data, attr))
        if not value:
            setattr(data, attr, "" if required else None)
            if required:
                problems.append(MissingField(f"{wire}: is required", field=wire))
            return
        if len(value) > limit:
            problems.append(InvalidValue(f"{wire}: at most {limit} characters", field=wire))
        setattr(data, attr, value)

    text("name", "name", True, NAME_MAX)
    text("address1", "address.address1", True, LINE_MAX)
    text("address2", "address.address2", False, LINE_MAX)
    text("city", "address.city", True, LINE_MAX)
    text("state", "address.state", False, LINE_MAX)
    text("postal_code", "address.postalCode", False, 20)
    text("emergency_location_identifier", "emergencyLocationIdentifier", False, 100)

    country = _clean(data.country).upper()
    data.country = country
    for wire, message in geo.validate_address(
        country,
        data.state,
        data.postal_code,
        country_field="address.country",
        state_field="address.state",
        postal_field="address.postalCode",
    ):
        if wire == "address.country" and not country:
            problems.append(MissingField(f"{wire}: is required", field=wire))
        elif wire == "address.country":
            problems.append(InvalidValue(f"{wire}: {message}", field=wire))
        else:
            problems.append(InvalidAddress(message, field=wire))
    if data.state and geo.country(country) is not None:
        data.state = geo.normalize_subdivision(country, data.state) or data.state

    zone = _clean(data.time_zone)
    data.time_zone = zone
    if not zone:
        problems.append(MissingField("timeZone: is required", field="timeZone"))
    elif not timezones.is_timezone(zone):
        problems.append(
            InvalidValue(f"timeZone: '{zone}' is not an IANA time zone", field="timeZone")
        )
    elif geo.country(country) is not None:
        zones = timezones.timezones_for_country(country)
        if zones and zone not in zones and zone != "UTC":
            problems.append(
                InvalidValue(
                    f"timeZone: '{zone}' is not a time zone of country {country} "
                    f"(for example {zones[0]})",
                    field="timeZone",
                )
            )

    for attr, wire, required in (
        ("preferred_language", "preferredLanguage", True),
        ("announcement_language", "announcementLanguage", False),
    ):
        raw = _clean(getattr(data, attr))
        if not raw:
            setattr(data, attr, "" if required else None)
            if required:
                problems.append(MissingField(f"{wire}: is required", field=wire))
            continue
        norm = languages.normalize_language(raw)
        if norm is None:
            problems.append(
                InvalidValue(f"{wire}: '{raw}' is not a language code like en or en_US", field=wire)
            )
        else:
            setattr(data, attr, norm)
    if not data.announcement_language and data.preferred_language:
        data.announcement_language = data.preferred_language
    return problems


def _raise(problems: list[ApiError]) -> None:
    if problems:
        raise ValidationFailed(problems) if len(problems) > 1 else problems[0]


def _org_not_found() -> NotFound:
    return NotFound("Organization not found (orgId)")


def usable_customer(customer: AnyCustomer | None) -> AnyCustomer:
    """The customer's organization must exist and not be going away."""
    if customer is None or customer.org_id is None:
        raise _org_not_found()
    if customer.status in BUSY_STATUSES:
        raise Busy(f"The customer is {customer.status}; its locations cannot change")
    return customer


def _apply(location: Location, data: LocationData) -> None:
    location.name = data.name
    location.time_zone = data.time_zone
    location.preferred_language = data.preferred_language
    location.announcement_language = data.announcement_language
    location.address1 = data.address1
    location.address2 = data.address2
    location.city = data.city
    location.state = data.state
    location.postal_code = data.postal_code
    location.country = data.country
    location.emergency_location_identifier = data.emergency_location_identifier


async def _flush(repo: LocationRepository, name: str) -> None:
    with constraint_errors({"uq_locations_customer_name": _name_taken(name)}):
        await repo.session.flush()


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"name: a location named '{name}' already exists in this organization",
        code=NAME_TAKEN_CODE,
        field="name",
    )


@dataclass(frozen=True, slots=True)
class Created:
    """A location just written by :func:`create`, with what its answer shows."""

    location: NewLocation
    customer: OrgCustomer
    main_number: str | None


async def create(
    repo: LocationRepository,
    org: str | None,
    data: LocationData,
    main_number: str | None = None,
) -> Created:
    """A new location of the acting partner's customer whose organization is ``org``.

    Every fact the rules read comes from one statement (the customer and whether the name is
    taken), the row is written by one ``INSERT``: without a main number both run on their own
    (no transaction: a single ``INSERT`` is atomic, the facts are only read); with one, the
    ``INSERT`` and the main number are one transaction (the work's session). A concurrent
    request that took the name first (or deleted the customer) is answered as the check
    would have answered it. Refusals come in this order: scope, ``orgId``, the customer, the
    settings, the name, the main number."""
    repo.principal.require(WRITE)
    if not org:
        raise MissingField("orgId: is required", field="orgId")
    org_id = ids.decode("ORGANIZATION", org)
    if org_id is None:
        raise _org_not_found()
    problems = check(data)
    facts = await repo.new_location_facts(org_id, data.name)
    customer = usable_customer(facts.customer)
    _raise(problems)
    if facts.name_taken:
        raise _name_taken(data.name)
    assert customer.org_id is not None
    now = utcnow()
    location = NewLocation(
        id=uuid.uuid4(),
        partner_id=customer.partner_id,
        customer_id=customer.id,
        org_id=customer.org_id,
        name=data.name,
        time_zone=data.time_zone,
        preferred_language=data.preferred_language,
        announcement_language=data.announcement_language,
        address1=data.address1,
        address2=data.address2,
        city=data.city,
        state=data.state,
        postal_code=data.postal_code,
        country=data.country,
        headquarters=False,
        emergency_location_identifier=data.emergency_location_identifier,
        created=now,
        updated=now,
    )
    if main_number or by_person(repo.principal):
        # One transaction for the INSERT and what must commit with it: the main number, the
        # audit row of a person's change.
        await repo.session.connection()
    lost = await repo.insert(location)
    if lost is not None:
        problem = constraint_problem(
            lost,
            {
                "uq_locations_customer_name": _name_taken(data.name),
                "fk_locations_customer_id_customers": _org_not_found(),
            },
        )
        if problem is None:
            raise lost
        raise problem from None
    main = None
    if main_number:
        await inventory.set_main_number(repo.session, repo.principal, location, main_number)
        main = (await repo.main_numbers([location.id])).get(location.id)
    if by_person(repo.principal):  # not an API token's: no session opened for it
        record(
            repo.session,
            repo.principal,
            "location.create",
            location,
            customer,
            {},
            _audited(location),
        )
    return Created(location, customer, main)


async def get(repo: LocationRepository, location_id: uuid.UUID | None) -> Location:
    repo.principal.require(READ)
    return await repo.get_or_404(Location, location_id, "Location not found")


_UNSET: Any = object()


async def update(
    repo: LocationRepository,
    location_id: uuid.UUID | None,
    data: LocationData,
    main_number: str | None = _UNSET,
) -> Location:
    """Replace a location's settings; ``main_number`` left out keeps it, ``None`` clears it."""
    repo.principal.require(WRITE)
    location = await get(repo, location_id)
    customer = usable_customer(await repo.customer(location.customer_id))
    _raise(check(data))
    if await repo.name_taken(location.customer_id, data.name, exclude=location.id):
        raise _name_taken(data.name)
    before = _audited(location)
    country_changed = data.country != location.country
    _apply(location, data)
    await _flush(repo, data.name)
    if country_changed:
        await inventory.check_country_change(repo.session, location)
    if main_number is not _UNSET:
        await inventory.set_main_number(repo.session, repo.principal, location, main_number)
    after = _audited(location)
    record(repo.session, repo.principal, "location.update", location, customer, before, after)
    return location


def _audited(location: Location | NewLocation) -> dict[str, Any]:
    return asdict(data_of(location))


def by_person(principal: Principal) -> bool:
    """Whether a change by ``principal`` is audited here: a person's (a partner or customer
    administrator in a portal), not an API token's (docs/audit.md)."""
    return principal.kind in ("admin", "customer_admin")


def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    location: Location | NewLocation,
    customer: Customer | OrgCustomer,
    before: dict[str, Any],
    after: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit row of a change to a location or its numbers, in the customer's log, when a
    person made it (a partner or customer administrator in a portal). Not by an API token: the
    wholesale location and number requests are the provisioning path (docs/audit.md)."""
    if not by_person(principal):
        return
    audit.record(
        session,
        principal,
        action,
        customer=customer,
        target_type="LOCATION",
        target_id=location_wire_id(location, customer),
        target_name=location.name or "",
        changes=audit.changes_of(before, after),
        detail=detail,
    )


@dataclass
class Removal:
    """What deleting a location loses: its phone numbers (with the main number) go with it;
    ``users`` at the location, or being the headquarters, refuse the deletion."""

    location: Location
    customer: Customer
    numbers: list[str]
    main_number: str | None
    users: int


async def removal(repo: LocationRepository, location_id: uuid.UUID | None) -> Removal:
    """What :func:`delete` would remove, for the confirmation page (nothing written)."""
    repo.principal.require(WRITE)
    location = await get(repo, location_id)
    customer = usable_customer(await repo.customer(location.customer_id))
    numbers = sorted(await repo.of_location(location.id))
    mains = await repo.main_numbers([location.id])
    users = await repo.users_at(location.id)
    return Removal(location, customer, numbers, mains.get(location.id), users)


def _in_use(description: str) -> Conflict:
    return Conflict(description, code=IN_USE_CODE, field="location")


def deletion_refusal(found: Removal) -> Conflict | None:
    """Why the location cannot be deleted, or ``None``."""
    if found.location.headquarters:
        return _in_use(
            "the headquarters location cannot be deleted (the customer's provisioning recorded it)"
        )
    if found.users:
        return _in_use(
            f"the location cannot be deleted: {found.users} user(s) are in it; "
            "move or remove them first"
        )
    return None


async def delete(repo: LocationRepository, location_id: uuid.UUID | None) -> Removal:
    """Delete a location with its phone numbers; refused (409, errorCode 1214) for the
    headquarters or while users are in it. The row is locked first, so a user added
    concurrently either waits for the deletion or makes it fail with the same refusal."""
    repo.principal.require(WRITE)
    locked = await repo.get(location_id, for_update=True) if location_id else None
    if locked is None:
        raise NotFound("Location not found")
    found = await removal(repo, locked.id)
    refusal = deletion_refusal(found)
    if refusal is not None:
        raise refusal
    gone = _in_use("the location cannot be deleted: a user was added to it meanwhile")
    before = _audited(found.location)
    with constraint_errors({"fk_org_users_location_id_locations": gone}):
        await repo.delete(found.location)
    record(
        repo.session, repo.principal, "location.delete", found.location, found.customer, before, {}
    )
    return found


async def list_locations(
    repo: LocationRepository, org: str | None, name: str | None, offset: int, limit: int
) -> list[Location]:
    repo.principal.require(READ)
    customer_id: uuid.UUID | None = None
    if org:
        org_id = ids.decode("ORGANIZATION", org)
        customer = await repo.customer_by_org(org_id) if org_id else None
        if customer is None:
            return []
        customer_id = customer.id
    return await repo.page(customer_id, name, offset, limit)


def data_of(location: Location | NewLocation) -> LocationData:
    return LocationData(
        name=location.name,
        time_zone=location.time_zone,
        preferred_language=location.preferred_language,
        announcement_language=location.announcement_language,
        address1=location.address1,
        address2=location.address2,
        city=location.city,
        state=location.state,
        postal_code=location.postal_code,
        country=location.country,
        emergency_location_identifier=location.emergency_location_identifier,
    )


# --- the headquarters location, materialized from the customer's provisioning record -------


@dataclass
class HqResult:
    """What :func:`ensure_hq_location` did: the location (``None`` when the customer has no
    recorded HQ location), and the recorded numbers it could not add, with the reason."""

    location: Location | None
    added_numbers: list[str] = field(default_factory=list)
    skipped_numbers: list[tuple[str, str]] = field(default_factory=list)


def _pick(record: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return record[key]
    return None


def hq_data(record: dict[str, Any], customer: Customer) -> LocationData:
    """A :class:`LocationData` from the customer's recorded HQ location.

    Accepts the wholesale wire shape (``address`` with ``addressLine1``, ``stateOrProvince``,
    ``zipOrPostalCode``; ``timezone``; ``language``) and the Locations shape (``address1``,
    ``state``, ``postalCode``; ``timeZone``; ``preferredLanguage``), camelCase or snake_case.
    """
    address = record.get("address") or customer.address or {}
    language = (
        _pick(record, "preferredLanguage", "preferred_language", "language")
        or customer.language
        or languages.DEFAULT_EMAIL_LANGUAGE
    )
    return LocationData(
        name=str(_pick(record, "name") or customer.name or "Headquarters")[:NAME_MAX],
        time_zone=str(_pick(record, "timeZone", "timezone", "time_zone") or ""),
        preferred_language=str(language),
        announcement_language=_pick(
            record, "announcementLanguage", "announcement_language", "language"
        )
        or str(language),
        address1=str(_pick(address, "addressLine1", "address_line1", "address1") or ""),
        address2=_pick(address, "addressLine2", "address_line2", "address2"),
        city=str(_pick(address, "city") or ""),
        state=_pick(address, "stateOrProvince", "state_or_province", "state"),
        postal_code=_pick(address, "zipOrPostalCode", "zip_or_postal_code", "postalCode"),
        country=str(_pick(address, "country") or ""),
        emergency_location_identifier=_pick(
            record, "emergencyLocationIdentifier", "emergency_location_identifier"
        ),
    )


def _recorded_location_id(record: dict[str, Any]) -> uuid.UUID | None:
    raw = _pick(record, "locationId", "location_id", "id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


async def ensure_hq_location(session: AsyncSession, customer: Customer) -> HqResult:
    """Create (once) the customer's headquarters location from ``customer.hq_location``.

    The record is what customer provisioning wrote (docs/customers.md): ``locationId``,
    ``name``, ``address`` (wholesale shape), ``timezone``, ``language``,
    ``emergencyLocationIdentifier``, ``numbers``, ``mainNumber``; the location gets the
    recorded ``locationId`` as its id.

    Idempotent: when the HQ location exists it is kept as it is (later edits go through the
    Locations API), and only recorded numbers not yet in the inventory are added. Recorded
    numbers that cannot be added (invalid, not of the location's country, or already in
    another inventory) are skipped and reported, never fatal. Call it in the provisioning
    task's transaction once ``customer.org_id`` is set; it never commits.
    """
    record = customer.hq_location
    if not record or customer.org_id is None:
        return HqResult(None)
    principal = system_principal(customer.partner_id)
    repo = LocationRepository(session, principal)
    recorded_id = _recorded_location_id(record)
    location = await repo.recorded_or_headquarters(recorded_id, customer.id)
    if location is None:
        data = hq_data(record, customer)
        check(data)  # normalize; the recorded location was validated when it was recorded
        if not data.time_zone:
            data.time_zone = timezones.principal_timezone(data.country) or "UTC"
        if await repo.name_taken(customer.id, data.name):
            data.name = f"{data.name[: NAME_MAX - 6]} (HQ)"
        location = Location(
            id=recorded_id or uuid.uuid4(),
            partner_id=customer.partner_id,
            customer_id=customer.id,
            org_id=customer.org_id,
            headquarters=True,
        )
        _apply(location, data)
        try:
            async with session.begin_nested():
                repo.add(location)
        except IntegrityError:
            # Created meanwhile by a concurrent caller (same recorded id): use that one.
            session.expunge(location)
            location = await repo.get(recorded_id) if recorded_id else None
            location = location or await repo.headquarters(customer.id)
            if location is None:
                raise
    recorded = _pick(record, "numbers", "phoneNumbers", "phone_numbers") or []
    main = _pick(record, "mainNumber", "main_number")
    if isinstance(recorded, str):
        recorded = [recorded]
    wanted = [str(n) for n in recorded if isinstance(n, str | int)]
    if main and str(main) not in wanted:
        wanted.append(str(main))
    added, skipped = await inventory.add_recorded_numbers(session, location, wanted)
    result = HqResult(location, added, skipped)
    if main:
        try:
            await inventory.set_main_number(session, principal, location, str(main))
        except ApiError as exc:
            result.skipped_numbers.append((str(main), exc.description))
    return result


async def headquarters_of(session: AsyncSession, customer: Customer) -> Location | None:
    """The customer's HQ location, materializing it from the provisioning record when
    provisioning has recorded one but nobody has created it yet."""
    repo = LocationRepository(session, system_principal(customer.partner_id))
    found = await repo.headquarters(customer.id)
    if found is None and customer.hq_location and customer.org_id is not None:
        found = (await ensure_hq_location(session, customer)).location
    return found
