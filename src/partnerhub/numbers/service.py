"""Rules for the number inventory: add (numbers or ranges), remove, list, the main number.

Numbers are E.164 (:mod:`partnerhub.catalog.phones`) and must belong to the location's
country. A number is in one inventory only, in the whole hub. Who owns a number is recorded
on the owner (``org_users.phone_number``), and the database guarantees the invariants
(unique owner, owner's number in the owner's location); the services check first so that
the usual case gets a precise message, and map a lost race to the same clean error.

Range syntax (in ``phoneNumbers``): ``FIRST..LAST``, both E.164 (``+390212345600..+390212345699``),
or ``FIRST..SUFFIX`` where the digits of ``SUFFIX`` replace the last digits of ``FIRST``
(``+390212345600..699``). At most :data:`RANGE_MAX` numbers per range and
:data:`REQUEST_MAX` per request.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.errors import (
    ApiError,
    Conflict,
    InvalidValue,
    MissingField,
    NotFound,
    ValidationFailed,
)
from partnerhub.kit.pagination import query_bool
from partnerhub.kit.scope import Principal
from partnerhub.locations import service as locations
from partnerhub.locations.repository import LocationRepository
from partnerhub.models import Customer, Location, PhoneNumber
from partnerhub.numbers.repository import NumberFilters, NumberRepository, NumberRow

READ = "partnerhub:numbers_read"
WRITE = "partnerhub:numbers_write"
NUMBER_CODE = 1013  # invalid, not in inventory, assigned, or in another location
HELD_CODE = 1212  # already in an inventory
RANGE_MAX = 1000
REQUEST_MAX = 10_000
NUMBER_TYPES = ("DID", "TOLLFREE")
STATES = ("ACTIVE", "INACTIVE")
_SUFFIX = re.compile(r"[0-9]{1,15}")


class NumberError(InvalidValue):
    """A phone-number problem: 400, errorCode 1013."""

    code = NUMBER_CODE


def _held(numbers: list[str]) -> Conflict:
    shown = ", ".join(numbers[:5]) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
    return Conflict(f"phoneNumbers: {shown} already in an inventory", code=HELD_CODE)


def violated_constraint(exc: IntegrityError) -> str:
    """The name of the constraint an INSERT/UPDATE/DELETE violated ('' if unknown)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return str(name or "")


def expand(items: list[str], country: str | None, field: str = "phoneNumbers") -> list[str]:
    """E.164 numbers from numbers and ranges; checks the country when one is given.

    Raises :class:`ValidationFailed` (1013/1003) listing every bad item.
    """
    problems: list[ApiError] = []
    out: list[str] = []
    seen: set[str] = set()

    def one(raw: str, where: str) -> str | None:
        e164 = phones.parse_e164(raw)
        if e164 is None:
            problems.append(NumberError(f"{where}: '{raw}' is not a valid E.164 phone number"))
            return None
        if country and not phones.is_valid_for_country(e164, country):
            problems.append(
                NumberError(f"{where}: {e164} is not a number of the location's country {country}")
            )
            return None
        return e164

    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, str) or not item.strip():
            problems.append(MissingField(f"{where}: a phone number is required"))
            continue
        text = item.strip()
        if ".." not in text:
            number = one(text, where)
            found = [number] if number else []
        else:
            first_raw, _, last_raw = text.partition("..")
            first = phones.parse_e164(first_raw.strip())
            last_text = last_raw.strip()
            if first is None:
                problems.append(
                    NumberError(f"{where}: '{first_raw.strip()}' is not a valid E.164 phone number")
                )
                continue
            if last_text.startswith("+"):
                last = phones.parse_e164(last_text)
            elif _SUFFIX.fullmatch(last_text) and len(last_text) < len(first) - 1:
                last = first[: len(first) - len(last_text)] + last_text
            else:
                last = None
            if last is None or len(last) != len(first) or int(last[1:]) < int(first[1:]):
                problems.append(
                    NumberError(
                        f"{where}: '{text}' is not a range like +390212345600..+390212345699 "
                        "or +390212345600..699"
                    )
                )
                continue
            size = int(last[1:]) - int(first[1:]) + 1
            if size > RANGE_MAX:
                problems.append(
                    InvalidValue(f"{where}: a range holds at most {RANGE_MAX} numbers ({size})")
                )
                continue
            found = []
            for value in range(int(first[1:]), int(last[1:]) + 1):
                number = one(f"+{value}", where)
                if number is None:
                    break
                found.append(number)
            if len(found) != size:
                continue
        for number in found:
            if number in seen:
                problems.append(InvalidValue(f"{where}: {number} is listed more than once"))
            seen.add(number)
            out.append(number)
        if len(out) > REQUEST_MAX:
            problems.append(
                InvalidValue(f"{field}: at most {REQUEST_MAX} numbers per request", field=field)
            )
            break
    if problems:
        raise ValidationFailed(problems) if len(problems) > 1 else problems[0]
    if not out:
        raise MissingField(f"{field}: at least one phone number is required", field=field)
    return out


async def _location(repo: NumberRepository, location_id: uuid.UUID | None) -> Location:
    location = (
        await LocationRepository(repo.session, repo.principal).get(location_id)
        if location_id
        else None
    )
    if location is None:
        raise NotFound("Location not found")
    return location


async def _usable(repo: NumberRepository, location: Location) -> Customer:
    customers = LocationRepository(repo.session, repo.principal)
    return locations.usable_customer(await customers.customer(location.customer_id))


async def add_numbers(
    repo: NumberRepository,
    location_id: uuid.UUID | None,
    items: list[str],
    number_type: str = "DID",
    state: str = "ACTIVE",
) -> list[PhoneNumber]:
    """Add numbers (and ranges) to a location's inventory: all of them, or none."""
    repo.principal.require(WRITE)
    location = await _location(repo, location_id)
    await _usable(repo, location)
    number_type = (number_type or "DID").upper()
    state = (state or "ACTIVE").upper()
    if number_type not in NUMBER_TYPES:
        raise InvalidValue(f"numberType: '{number_type}' is not one of {', '.join(NUMBER_TYPES)}")
    if state not in STATES:
        raise InvalidValue(f"state: '{state}' is not one of {', '.join(STATES)}")
    numbers = expand(items, location.country)
    held = await repo.held_anywhere(numbers)
    if held:
        raise _held(sorted(held))
    rows = [
        PhoneNumber(
            id=uuid.uuid4(),
            partner_id=location.partner_id,
            customer_id=location.customer_id,
            location_id=location.id,
            phone_number=number,
            number_type=number_type,
            state=state,
            main=False,
        )
        for number in numbers
    ]
    repo.session.add_all(rows)
    try:
        await repo.session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc).startswith("uq_phone_numbers"):
            raise _held(numbers) from None
        raise
    return rows


async def remove_numbers(
    repo: NumberRepository, location_id: uuid.UUID | None, items: list[str]
) -> list[str]:
    """Remove unassigned numbers from a location's inventory: all of them, or none."""
    repo.principal.require(WRITE)
    location = await _location(repo, location_id)
    await _usable(repo, location)
    numbers = expand(items, None)
    present = {n.phone_number for n in await repo.in_location(location.id, numbers)}
    missing = [n for n in numbers if n not in present]
    if missing:
        raise NumberError(
            f"phoneNumbers: {', '.join(missing[:5])} not in the inventory of location "
            f"'{location.name}'"
        )
    owners = await repo.owners(numbers)
    if owners:
        number, owner = next(iter(owners.items()))
        raise NumberError(
            f"phoneNumbers: {number} is assigned to {owner.email}; "
            "change that user's number before removing it"
        )
    try:
        await repo.delete_many(location.id, numbers)
        await repo.session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc).startswith("fk_org_users"):
            raise NumberError(
                "phoneNumbers: a number was assigned to a user meanwhile; nothing was removed"
            ) from None
        raise
    return numbers


async def set_main_number(
    session: AsyncSession, principal: Principal, location: Location, number: str | None
) -> None:
    """Mark ``number`` (in the location's inventory, not assigned) as its main number;
    ``None`` clears it."""
    repo = NumberRepository(session, principal)
    if number is None:
        await repo.set_main(location.id, None)
        return
    e164 = phones.parse_e164(number)
    if e164 is None:
        raise NumberError(f"mainNumber: '{number}' is not a valid E.164 phone number")
    if not await repo.in_location(location.id, [e164]):
        raise NumberError(
            f"mainNumber: {e164} is not in the inventory of location '{location.name}'"
        )
    owner = (await repo.owners([e164])).get(e164)
    if owner is not None:
        raise NumberError(f"mainNumber: {e164} is assigned to {owner.email}")
    try:
        async with session.begin_nested():
            await repo.set_main(location.id, e164)
    except IntegrityError:
        raise Conflict(
            "mainNumber: the location's main number changed meanwhile; retry", code=1201
        ) from None


async def add_recorded_numbers(
    session: AsyncSession, location: Location, wanted: list[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Add the numbers provisioning recorded for an HQ location, skipping (and reporting)
    those that are invalid, of another country, or held elsewhere. Idempotent."""
    principal = locations.system_principal(location.partner_id)
    repo = NumberRepository(session, principal)
    added: list[str] = []
    skipped: list[tuple[str, str]] = []
    valid: list[str] = []
    for raw in wanted:
        e164 = phones.parse_e164(raw)
        if e164 is None:
            skipped.append((raw, "not a valid E.164 phone number"))
        elif not phones.is_valid_for_country(e164, location.country):
            skipped.append((raw, f"not a number of country {location.country}"))
        elif e164 not in valid:
            valid.append(e164)
    if not valid:  # nothing to add (the common case): no round trip
        return added, skipped
    mine = set(await repo.of_location(location.id))
    fresh = [n for n in valid if n not in mine]
    held = await repo.held_anywhere(fresh)
    for number in fresh:
        if number in held:
            skipped.append((number, "already in another inventory"))
            continue
        try:
            async with session.begin_nested():
                session.add(
                    PhoneNumber(
                        id=uuid.uuid4(),
                        partner_id=location.partner_id,
                        customer_id=location.customer_id,
                        location_id=location.id,
                        phone_number=number,
                    )
                )
        except IntegrityError:
            skipped.append((number, "already in another inventory"))
            continue
        added.append(number)
    return added, skipped


async def check_country_change(session: AsyncSession, location: Location) -> None:
    """A location's country may change only if its numbers belong to the new country."""
    repo = NumberRepository(session, locations.system_principal(location.partner_id))
    foreign = [
        n
        for n in await repo.of_location(location.id)
        if not phones.is_valid_for_country(n, location.country)
    ]
    if foreign:
        raise NumberError(
            f"address.country: the location's numbers ({', '.join(foreign[:3])}) are not "
            f"numbers of {location.country}; remove them first"
        )


@dataclass(frozen=True)
class ListQuery:
    org: str | None = None
    location: str | None = None
    available: str | None = None
    phone_number: str | None = None
    owner_name: str | None = None


async def list_numbers(
    repo: NumberRepository, query: ListQuery, offset: int, limit: int
) -> list[NumberRow]:
    repo.principal.require(READ)
    customer_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    available = query_bool("available", query.available)
    customers = LocationRepository(repo.session, repo.principal)
    if query.org:
        org_id = ids.decode("ORGANIZATION", query.org)
        customer = await customers.customer_by_org(org_id) if org_id else None
        if customer is None:
            return []
        customer_id = customer.id
    if query.location:
        location_id = ids.decode("LOCATION", query.location)
        if location_id is None:
            return []
    phone = (query.phone_number or "").strip()
    if phone:
        phone = re.sub(r"[^0-9+]", "", phone)
    filters = NumberFilters(
        customer_id=customer_id,
        location_id=location_id,
        available=available,
        phone_number=phone or None,
        owner_name=(query.owner_name or "").strip() or None,
    )
    return await repo.page(filters, offset, limit)
