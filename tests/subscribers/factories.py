"""Provisioned customers written straight into the database (no customers API needed).

Shared by tests/locations, tests/numbers and tests/subscribers. The customer's HQ location is
materialized by the real :func:`partnerhub.locations.service.ensure_hq_location`, from the
same ``hq_location`` record customer provisioning writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from partnerhub import ids
from partnerhub.db import Database
from partnerhub.ids import new_provisioning_id
from partnerhub.locations.service import ensure_hq_location
from partnerhub.models import Customer, Location, OrgUser, Template
from tests.conftest import Tenant, bearer

SUB_WRITE = "spark-admin:wholesale_subscribers_write"
SUB_READ = "spark-admin:wholesale_subscribers_read"
LOC_WRITE = "partnerhub:locations_write"
LOC_READ = "partnerhub:locations_read"
NUM_WRITE = "partnerhub:numbers_write"
NUM_READ = "partnerhub:numbers_read"
ALL_WRITE = (SUB_WRITE, LOC_WRITE, NUM_WRITE)

US_ADDRESS = {
    "addressLine1": "1 Market St",
    "city": "San Francisco",
    "stateOrProvince": "CA",
    "zipOrPostalCode": "94105",
    "country": "US",
}


@dataclass
class Setup:
    """A provisioned customer of ``tenant`` with its HQ location."""

    tenant: Tenant
    customer: Customer
    hq: Location | None

    @property
    def id(self) -> str:
        return ids.encode("CUSTOMER", self.customer.id, ids.region_of(self.customer.data_region))

    @property
    def org(self) -> str:
        assert self.customer.org_id is not None
        return ids.encode(
            "ORGANIZATION", self.customer.org_id, ids.region_of(self.customer.data_region)
        )

    @property
    def hq_id(self) -> str:
        assert self.hq is not None
        return ids.encode("LOCATION", self.hq.id, ids.region_of(self.customer.data_region))


async def make_template(db: Database, tenant: Tenant) -> Template:
    template = Template(
        id=uuid.uuid4(),
        partner_id=tenant.partner.id,
        provisioning_id=new_provisioning_id(),
        name=f"T-{uuid.uuid4().hex[:6]}",
        service_provider_admin_id=tenant.admin.id,
        country="US",
        default_email_language="en_US",
        wholesale_subscription_id="Sub-1",
        brand_name="Acme Cloud",
    )
    async with db.transaction() as session:
        session.add(template)
    return template


async def make_customer(
    db: Database,
    tenant: Tenant,
    *,
    packages: list[str] | None = None,
    status: str = "provisioned",
    limits: dict[str, int] | None = None,
    hq: bool = True,
    numbers: list[str] | None = None,
    main_number: str | None = None,
    external_id: str | None = None,
    admin_package: str | None = None,
    settings: dict[str, Any] | None = None,
    data_region: str = "US",
) -> Setup:
    template = await make_template(db, tenant)
    customer_id = uuid.uuid4()
    params: dict[str, Any] = {}
    if limits:
        params["packages"] = {"limits": limits}
    hq_record = None
    if hq:
        hq_record = {
            "locationId": str(uuid.uuid4()),
            "name": "Headquarters",
            "address": US_ADDRESS,
            "timezone": "America/Los_Angeles",
            "language": "en_US",
            "numbers": numbers or [],
        }
        if main_number:
            hq_record["mainNumber"] = main_number
    customer = Customer(
        id=customer_id,
        partner_id=tenant.partner.id,
        template_id=template.id,
        provisioning_id=template.provisioning_id,
        external_id=external_id or f"ext-{uuid.uuid4().hex[:8]}",
        name=f"Customer {uuid.uuid4().hex[:4]}",
        primary_email=None,
        language="en_US",
        org_id=uuid.uuid4(),
        status=status,
        data_region=data_region,
        address=US_ADDRESS,
        packages=packages or ["webex_calling", "webex_meetings", "webex_suite"],
        provisioning_parameters=params,
        settings=settings or {"email": {"brandName": "Acme Cloud"}},
        resource_details={},
        errors=[],
        hq_location=hq_record,
    )
    location = None
    async with db.transaction() as session:
        session.add(customer)
        await session.flush()
        result = await ensure_hq_location(session, customer)
        location = result.location
        if admin_package:
            session.add(
                OrgUser(
                    id=uuid.uuid4(),
                    partner_id=tenant.partner.id,
                    customer_id=customer.id,
                    org_id=customer.org_id,
                    email=f"admin-{uuid.uuid4().hex[:6]}@customer.example",
                    roles=["full_admin"],
                    package=admin_package,
                    status="provisioned",
                )
            )
    return Setup(tenant, customer, location)


async def add_numbers(
    client: httpx.AsyncClient, token: str, location_id: str, numbers: list[str]
) -> None:
    response = await client.post(
        f"/v1/telephony/config/locations/{location_id}/numbers",
        json={"phoneNumbers": numbers, "numberType": "DID", "state": "ACTIVE"},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text


def number(i: int) -> str:
    """A valid US number of the test range (+1 415 555 01xx... in San Francisco)."""
    return f"+1415555{i:04d}"
