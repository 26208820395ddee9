"""The kit helpers every route and service uses (docs/development.md, "Kit helpers"), on the
real database: get-or-404 answers another tenant's row as not found, a violated constraint
becomes the error named for it (and only that one), and a list read whole pages like the
others (``Link`` while more remain, the contract's 400 for a bad ``max``)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from partnerhub.db import Database
from partnerhub.errors import Conflict, NotFound
from partnerhub.kit.constraints import constraint_errors, violated_constraint
from partnerhub.kit.repository import Repository
from partnerhub.kit.scope import system_principal
from partnerhub.models import Location
from tests.conftest import Tenant, assert_error, bearer
from tests.factories import make_customer


async def test_get_or_404_finds_only_the_acting_partners_row(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    setup = await make_customer(db, tenant)
    assert setup.hq is not None
    async with db.transaction() as session:
        mine = Repository(session, system_principal(tenant.partner.id))
        found = await mine.get_or_404(Location, setup.hq.id, "Location not found")
        assert found.id == setup.hq.id
        theirs = Repository(session, system_principal(other_tenant.partner.id))
        for row_id in (setup.hq.id, uuid.uuid4(), None):  # another tenant's, unknown, undecoded
            with pytest.raises(NotFound) as refused:
                await theirs.get_or_404(Location, row_id, "Location not found")
            assert (refused.value.status, refused.value.code) == (404, 1100)
            assert refused.value.description == "Location not found"


def _twin(hq: Location) -> Location:
    """Another location of the same customer with the HQ's name (in another case)."""
    return Location(
        id=uuid.uuid4(),
        partner_id=hq.partner_id,
        customer_id=hq.customer_id,
        org_id=hq.org_id,
        headquarters=False,
        name=hq.name.upper(),
        time_zone=hq.time_zone,
        preferred_language=hq.preferred_language,
        address1=hq.address1,
        city=hq.city,
        country=hq.country,
    )


async def test_constraint_errors_raises_the_error_named_for_the_constraint(
    db: Database, tenant: Tenant
) -> None:
    setup = await make_customer(db, tenant)
    assert setup.hq is not None
    taken = Conflict("name: taken", code=1211, field="name")
    with pytest.raises(Conflict) as raised:
        async with db.transaction() as session:
            with constraint_errors({"uq_locations_customer_name": taken}):
                session.add(_twin(setup.hq))
                await session.flush()
    assert raised.value is taken
    # A constraint the mapping does not name propagates unchanged.
    with pytest.raises(IntegrityError) as other:
        async with db.transaction() as session:
            with constraint_errors({"uq_phone_numbers_phone_number": taken}):
                session.add(_twin(setup.hq))
                await session.flush()
    assert violated_constraint(other.value) == "uq_locations_customer_name"
    # Nothing was written either time.
    async with db.transaction() as session:
        names = await session.scalars(
            select(Location.name).where(Location.customer_id == setup.hq.customer_id)
        )
        assert [n.lower() for n in names].count(setup.hq.name.lower()) == 1


async def test_a_list_read_whole_pages_like_every_list(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await tenant.add_admin("full_admin")
    await tenant.add_admin("full_admin")
    token = await tenant.token("partnerhub:admin")
    url = "/v1/partner/administrators"
    everyone = (await client.get(url, headers=bearer(token))).json()["items"]
    assert len(everyone) == 3
    first = await client.get(url, params={"max": "2"}, headers=bearer(token))
    assert first.status_code == 200, first.text
    assert [a["id"] for a in first.json()["items"]] == [a["id"] for a in everyone[:2]]
    link = first.headers["Link"]
    assert link.endswith('>; rel="next"') and "offset=2" in link and "max=2" in link
    rest = await client.get(url, params={"offset": "2", "max": "2"}, headers=bearer(token))
    assert [a["id"] for a in rest.json()["items"]] == [everyone[2]["id"]]
    assert "Link" not in rest.headers
    assert_error(await client.get(url, params={"max": ""}, headers=bearer(token)), 400, 1003)
    assert_error(await client.get(url, params={"max": "1001"}, headers=bearer(token)), 400, 1003)
