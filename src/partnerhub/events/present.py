"""An event's ``data``: the row snapshot the trigger wrote, shown as the resource's GET shows
it at that moment, through the resource's own presenter where it needs no database (customers,
subscribers, billing reports, sub-partners), otherwise the same fields in camelCase with the
ids encoded as the resource's answers encode them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Uuid

from partnerhub import ids
from partnerhub.billing import api as billing_api
from partnerhub.customers import api as customers_api
from partnerhub.kit.schemas import iso_z
from partnerhub.models import BillingReport, Customer, OrgUser, Partner
from partnerhub.partners import api as partners_api
from partnerhub.subscribers import api as subscribers_api
from partnerhub.subscribers.repository import CustomerKey

# resource -> the opaque id kind of its rows
KINDS = {
    "wholesaleCustomers": "CUSTOMER",
    "wholesaleSubscribers": "SUBSCRIBER",
    "locations": "LOCATION",
    "numbers": "NUMBER",
    "subscriberImports": "IMPORT",
    "billingReports": "BILLING_REPORT",
    "subPartners": "ORGANIZATION",
    "templates": "TEMPLATE",
    "administrators": "PEOPLE",
}
# snapshot columns never shown (tenancy and internal bookkeeping)
_INTERNAL = {"partner_id", "parent_id", "service_provider_admin_id", "settings"}
# uuid columns shown as opaque ids: column -> (wire name, kind)
_REFERENCES = {
    "customer_id": ("customerId", "CUSTOMER"),
    "org_id": ("orgId", "ORGANIZATION"),
    "location_id": ("locationId", "LOCATION"),
    "template_id": ("templateId", "TEMPLATE"),
    "created_by": ("createdBy", "PEOPLE"),
    "sub_partner_id": ("subPartnerOrgId", "ORGANIZATION"),
}


@dataclass(frozen=True, slots=True)
class Owner:
    """What an event's rendering needs of the customer that owns the row (kept after the
    customer is deleted: ``usage_customers``)."""

    data_region: str | None
    external_id: str | None


def _value(column: Any, raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(column.type, DateTime):
        return datetime.fromisoformat(raw)
    if isinstance(column.type, Date):
        return date.fromisoformat(raw)
    if isinstance(column.type, Uuid):
        return uuid.UUID(raw)
    return raw


def row_of(model: Any, snapshot: dict[str, Any]) -> Any:
    """A transient ``model`` instance holding the snapshot's values (never added to a session)."""
    columns = model.__table__.columns
    return model(**{c.key: _value(c, snapshot.get(c.name)) for c in columns if c.name in snapshot})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _generic(resource: str, snapshot: dict[str, Any], region: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ids.encode(KINDS[resource], uuid.UUID(snapshot["id"]), region)}
    for key, value in snapshot.items():
        if key == "id" or key in _INTERNAL:
            continue
        if key in _REFERENCES:
            wire, kind = _REFERENCES[key]
            out[wire] = ids.encode(kind, uuid.UUID(value), region) if value else None
        elif isinstance(value, str) and key in {"created", "updated", "finished", "last_login"}:
            out[_camel(key)] = iso_z(datetime.fromisoformat(value))
        else:
            out[_camel(key)] = value
    return out


def render(resource: str, snapshot: dict[str, Any], owner: Owner) -> dict[str, Any]:
    region = ids.region_of(owner.data_region) if owner.data_region else ids.HUB
    if resource == "wholesaleCustomers":
        return customers_api.present(row_of(Customer, snapshot))
    if resource == "wholesaleSubscribers":
        user = row_of(OrgUser, snapshot)
        key = CustomerKey(
            id=user.customer_id,
            data_region=owner.data_region or "",
            external_id=owner.external_id or "",
        )
        out: dict[str, Any] = subscribers_api.present_one(user, key).model_dump(
            by_alias=True, mode="json", exclude_none=True
        )
        return out
    if resource == "billingReports":
        return billing_api.present(row_of(BillingReport, snapshot))
    if resource == "subPartners":
        partner = partners_api.present(row_of(Partner, snapshot))
        sub: dict[str, Any] = partner.model_dump(by_alias=True, mode="json", exclude_none=True)
        return sub
    if resource in {"templates", "administrators"}:
        region = ids.HUB
    if resource == "subscriberImports":
        # its GET does not show who started it (the column holds an e-mail, not an id)
        snapshot = {k: v for k, v in snapshot.items() if k != "created_by"}
    out = _generic(resource, snapshot, region)
    if resource == "locations":
        return _location(out)
    if resource == "numbers":
        return _number(out)
    return out


_ADDRESS = ("address1", "address2", "city", "state", "postalCode", "country")


def _location(flat: dict[str, Any]) -> dict[str, Any]:
    """The location's GET nests the address (``locations.api.present_one``); its
    ``mainNumber`` comes from another table (``phone_numbers``) and is not in the row."""
    out = {k: v for k, v in flat.items() if k not in _ADDRESS}
    out["address"] = {k: flat.get(k) for k in _ADDRESS}
    return out


def _number(flat: dict[str, Any]) -> dict[str, Any]:
    """A number as the numbers list shows it (``numbers.api``): ``mainNumber``, the location
    as ``{id}`` (its name, and the owner and extension, live in other tables), besides the
    row's own ``id``, ``customerId`` and ``created``."""
    out = {k: v for k, v in flat.items() if k not in {"main", "locationId"}}
    out["mainNumber"] = flat.get("main")
    out["location"] = {"id": flat.get("locationId")}
    return out
