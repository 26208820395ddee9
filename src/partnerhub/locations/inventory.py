"""A location's own numbers, as the location's rules use them: its main number, the numbers
customer provisioning recorded for its headquarters, the country of its numbers.

:mod:`partnerhub.locations.service` calls these when a location is created or changed;
:mod:`partnerhub.numbers` (the inventory's API and rules: add, remove, list) builds on them and
on :class:`NumberError`. Numbers import locations, never the reverse.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub.catalog import phones
from partnerhub.errors import Conflict, InvalidValue
from partnerhub.kit.constraints import constraint_errors
from partnerhub.kit.scope import Principal, system_principal
from partnerhub.locations.repository import LocationRepository, NewLocation
from partnerhub.models import Location, PhoneNumber

NUMBER_CODE = 1013  # invalid, not in inventory, assigned, or in another location


class NumberError(InvalidValue):
    """A phone-number problem: 400, errorCode 1013."""

    code = NUMBER_CODE


def new_number(
    location: Location, number: str, number_type: str = "DID", state: str = "ACTIVE"
) -> PhoneNumber:
    """A new row of ``location``'s inventory (not its main number)."""
    return PhoneNumber(
        id=uuid.uuid4(),
        partner_id=location.partner_id,
        customer_id=location.customer_id,
        location_id=location.id,
        phone_number=number,
        number_type=number_type,
        state=state,
        main=False,
    )


async def set_main_number(
    session: AsyncSession,
    principal: Principal,
    location: Location | NewLocation,
    number: str | None,
) -> None:
    """Mark ``number`` (in the location's inventory, not assigned) as its main number;
    ``None`` clears it."""
    repo = LocationRepository(session, principal)
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
    changed = Conflict("mainNumber: the location's main number changed meanwhile; retry", code=1201)
    with constraint_errors({"uq_phone_numbers_location_main": changed}):
        async with session.begin_nested():
            await repo.set_main(location.id, e164)


async def add_recorded_numbers(
    session: AsyncSession, location: Location, wanted: list[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Add the numbers provisioning recorded for an HQ location, skipping (and reporting)
    those that are invalid, of another country, or held elsewhere. Idempotent."""
    principal = system_principal(location.partner_id)
    repo = LocationRepository(session, principal)
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
                session.add(new_number(location, number))
        except IntegrityError:
            skipped.append((number, "already in another inventory"))
            continue
        added.append(number)
    return added, skipped


async def check_country_change(session: AsyncSession, location: Location) -> None:
    """A location's country may change only if its numbers belong to the new country."""
    repo = LocationRepository(session, system_principal(location.partner_id))
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
