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

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.errors import (
    ApiError,
    Conflict,
    InvalidValue,
    MissingField,
    ValidationFailed,
)
from partnerhub.kit.constraints import constraint_errors
from partnerhub.kit.constraints import violated_constraint as violated_constraint  # subscribers
from partnerhub.kit.pagination import query_bool
from partnerhub.locations import service as locations
from partnerhub.locations.inventory import NumberError, new_number
from partnerhub.locations.repository import LocationRepository
from partnerhub.models import Customer, Location, PhoneNumber
from partnerhub.numbers.repository import NumberFilters, NumberRepository, NumberRow

READ = "partnerhub:numbers_read"
WRITE = "partnerhub:numbers_write"
HELD_CODE = 1212  # already in an inventory
RANGE_MAX = 1000
REQUEST_MAX = 10_000
NUMBER_TYPES = ("DID", "TOLLFREE")
STATES = ("ACTIVE", "INACTIVE")
_SUFFIX = re.compile(r"[0-9]{1,15}")


def _held(numbers: list[str]) -> Conflict:
    shown = ", ".join(numbers[:5]) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
    return Conflict(f"phoneNumbers: {shown} already in an inventory", code=HELD_CODE)


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
            problems.append(
                NumberError(
                    f"{where}: '{raw}' is not a valid E.164 phone number",
                    field=where,
                    reason="not_e164",
                    params={"value": raw},
                )
            )
            return None
        if country and not phones.is_valid_for_country(e164, country):
            problems.append(
                NumberError(
                    f"{where}: {e164} is not a number of the location's country {country}",
                    field=where,
                    reason="not_in_country",
                    params={"value": e164, "country": country},
                )
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
                    NumberError(
                        f"{where}: '{first_raw.strip()}' is not a valid E.164 phone number",
                        field=where,
                        reason="not_e164",
                        params={"value": first_raw.strip()},
                    )
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
                        "or +390212345600..699",
                        field=where,
                        reason="not_range",
                        params={"value": text},
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


def _locations(repo: NumberRepository) -> LocationRepository:
    """The locations' queries in the same session (a location's numbers are its own)."""
    return LocationRepository(repo.session, repo.principal)


async def _location(repo: NumberRepository, location_id: uuid.UUID | None) -> Location:
    return await _locations(repo).get_or_404(Location, location_id, "Location not found")


async def _usable(repo: NumberRepository, location: Location) -> Customer:
    return locations.usable_customer(await _locations(repo).customer(location.customer_id))


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
    customer = await _usable(repo, location)
    number_type = (number_type or "DID").upper()
    state = (state or "ACTIVE").upper()
    if number_type not in NUMBER_TYPES:
        raise InvalidValue(f"numberType: '{number_type}' is not one of {', '.join(NUMBER_TYPES)}")
    if state not in STATES:
        raise InvalidValue(f"state: '{state}' is not one of {', '.join(STATES)}")
    numbers = expand(items, location.country)
    held = await _locations(repo).held_anywhere(numbers)
    if held:
        raise _held(sorted(held))
    rows = [new_number(location, number, number_type, state) for number in numbers]
    repo.session.add_all(rows)
    held_meanwhile = _held(numbers)
    with constraint_errors(
        {
            "uq_phone_numbers_phone_number": held_meanwhile,
            "uq_phone_numbers_location_number": held_meanwhile,
        }
    ):
        await repo.session.flush()
    _log(repo, "numbers.add", location, customer, numbers)
    return rows


async def remove_numbers(
    repo: NumberRepository, location_id: uuid.UUID | None, items: list[str]
) -> list[str]:
    """Remove unassigned numbers from a location's inventory: all of them, or none."""
    repo.principal.require(WRITE)
    location = await _location(repo, location_id)
    customer = await _usable(repo, location)
    numbers = expand(items, None)
    present = {n.phone_number for n in await _locations(repo).in_location(location.id, numbers)}
    missing = [n for n in numbers if n not in present]
    if missing:
        raise NumberError(
            f"phoneNumbers: {', '.join(missing[:5])} not in the inventory of location "
            f"'{location.name}'"
        )
    owners = await _locations(repo).owners(numbers)
    if owners:
        number, owner = next(iter(owners.items()))
        raise NumberError(
            f"phoneNumbers: {number} is assigned to {owner.email}; "
            "change that user's number before removing it"
        )
    assigned_meanwhile = NumberError(
        "phoneNumbers: a number was assigned to a user meanwhile; nothing was removed"
    )
    with constraint_errors({"fk_org_users_location_number_phone_numbers": assigned_meanwhile}):
        await repo.delete_many(location.id, numbers)
        await repo.session.flush()
    _log(repo, "numbers.remove", location, customer, numbers)
    return numbers


def _log(
    repo: NumberRepository, action: str, location: Location, customer: Customer, numbers: list[str]
) -> None:
    shown = sorted(numbers)[:50]  # a range can be long: its first numbers and the count
    detail = {"numbers": shown, "count": len(numbers)}
    locations.record(repo.session, repo.principal, action, location, customer, {}, {}, detail)


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
    customers = _locations(repo)
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


def split_numbers(text: str) -> list[str]:
    """Numbers and ranges typed one per line or separated by commas or semicolons."""
    return [part.strip() for part in re.split(r"[,;\n]+", text or "") if part.strip()]


async def add_typed(repo: NumberRepository, location_id: uuid.UUID, text: str) -> int:
    """:func:`add_numbers` for what a person typed in a portal form (:func:`split_numbers`);
    how many numbers were added."""
    return len(await add_numbers(repo, location_id, split_numbers(text)))
