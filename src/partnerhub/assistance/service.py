"""Rules of installation assistance requests.

A request names a contact (name and email required, phone optional, E.164 or national in the
customer's country), preferred dates, sites and notes (free text). It is stored ``submitted``
and emailed (template ``installation_request``, en/it) to the partner's ``supportEmail``
setting; without that setting the email is written to the outbox as ``stored`` only
(addressed to the administrator who asked), never delivered. A partner administrator with
the customers write scope moves it to ``in_progress`` or ``done`` (or back).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import Any

from partnerhub import ids
from partnerhub.assistance.repository import AssistanceRepository
from partnerhub.audit import service as audit
from partnerhub.catalog import phones
from partnerhub.errors import ApiError, InvalidValue, MissingField, NotFound, ValidationFailed
from partnerhub.kit.validators import check_email
from partnerhub.models import Customer, InstallationRequest
from partnerhub.models.base import utcnow
from partnerhub.partners.service import PartnerSettings

READ = "spark-admin:wholesale_customers_read"
WRITE = "spark-admin:wholesale_customers_write"
STATUSES = ("submitted", "in_progress", "done")
EMAIL_KIND = "installation_request"
LIMITS = {"contact_name": 200, "preferred_dates": 1000, "sites": 4000, "notes": 4000}


@dataclass
class RequestInput:
    contact_name: str | None = None
    contact_email: str | None = None
    phone: str | None = None
    preferred_dates: str | None = None
    sites: str | None = None
    notes: str | None = None


@dataclass
class Created:
    request: InstallationRequest
    customer: Customer
    email_id: uuid.UUID | None
    emailed_to: str | None  # the support address, None when only stored


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


async def customer_of(repo: AssistanceRepository, customer_id: uuid.UUID | None) -> Customer:
    customer = await repo.customer(customer_id) if customer_id else None
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def check(inp: RequestInput, customer: Customer) -> RequestInput:
    """The cleaned input; every problem at once."""
    problems: list[ApiError] = []
    out = RequestInput(**{f.name: _text(getattr(inp, f.name)) for f in fields(RequestInput)})
    if out.contact_name is None:
        problems.append(MissingField("contactName: is required", field="contact_name"))
    for name, limit in LIMITS.items():
        value = getattr(out, name)
        if value is not None and len(value) > limit:
            problems.append(
                InvalidValue(
                    f"{name}: at most {limit} characters",
                    field=name,
                    reason="too_long",
                    params={"max": limit},
                )
            )
    try:
        out.contact_email = check_email(out.contact_email, "contact_email")
    except ApiError as exc:
        problems.append(
            type(exc)(
                f"contactEmail: {exc.description}",
                field="contact_email",
                reason=exc.reason,
                params=exc.params,
            )
        )
    if out.phone is not None:
        country = (customer.address or {}).get("country") if customer.address else None
        e164 = phones.parse_e164(out.phone, str(country) if country else None)
        if e164 is None:
            problems.append(
                InvalidValue(
                    f"phone: '{out.phone}' is not a valid phone number",
                    field="phone",
                    reason="phone",
                    params={"value": out.phone},
                )
            )
        out.phone = e164
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationFailed(problems)
    return out


async def create(
    repo: AssistanceRepository, customer_id: uuid.UUID | None, inp: RequestInput, language: str
) -> Created:
    """Store the request and queue its email (in the caller's transaction)."""
    from partnerhub.notifications import repository as outbox
    from partnerhub.notifications import service as notifications

    repo.principal.require(WRITE)
    customer = await customer_of(repo, customer_id)
    clean = check(inp, customer)
    actor = repo.principal.actor_email
    request = InstallationRequest(
        id=uuid.uuid4(),
        partner_id=customer.partner_id,
        customer_id=customer.id,
        contact_name=clean.contact_name or "",
        contact_email=clean.contact_email or "",
        phone=clean.phone,
        preferred_dates=clean.preferred_dates,
        sites=clean.sites,
        notes=clean.notes,
        status="submitted",
        created_by=actor,
        created=utcnow(),
        updated=utcnow(),
    )
    repo.add(request)
    await repo.flush()
    _log(repo, "assistance.request", customer, request, {"status": [None, request.status]})
    partner = await repo.partner()
    support = PartnerSettings.of(partner).support_email if partner else None
    to = support or actor
    email_id = None
    if to:
        email_id = await notifications.queue(
            repo.session,
            partner_id=customer.partner_id,
            customer_id=customer.id,
            dedupe_key=f"installation_request:{request.id}",
            kind=EMAIL_KIND,
            to=to,
            language=notifications.pick_language(EMAIL_KIND, language),
            context={
                "partner_name": partner.name if partner else "",
                "customer_name": customer.name or customer.external_id,
                "customer_id": ids.encode(
                    "CUSTOMER", customer.id, ids.region_of(customer.data_region)
                ),
                "request": request,
                "requested_by": actor or "",
            },
            from_name=partner.name if partner else None,
        )
        if email_id is not None and not support:
            await outbox.set_delivery(repo.session, email_id, status="stored")
    return Created(request, customer, email_id if support else None, support)


async def list_for(
    repo: AssistanceRepository, customer_id: uuid.UUID | None
) -> tuple[Customer, list[InstallationRequest]]:
    repo.principal.require(READ, WRITE)
    customer = await customer_of(repo, customer_id)
    return customer, await repo.for_customer(customer.id)


async def set_status(
    repo: AssistanceRepository,
    customer_id: uuid.UUID | None,
    request_id: uuid.UUID | None,
    status: str,
) -> InstallationRequest:
    repo.principal.require(WRITE)
    customer = await customer_of(repo, customer_id)
    found = await repo.get(customer.id, request_id, for_update=True) if request_id else None
    if found is None:
        raise NotFound("Installation request not found")
    if status not in STATUSES:
        raise InvalidValue(f"status: must be one of {', '.join(STATUSES)}", field="status")
    if found.status != status:
        changes = {"status": [found.status, status]}
        found.status = status
        found.updated = utcnow()
        await repo.flush()
        _log(repo, "assistance.status", customer, found, changes)
    return found


def _log(
    repo: AssistanceRepository,
    action: str,
    customer: Customer,
    request: InstallationRequest,
    changes: dict[str, list[Any]],
) -> None:
    """The request's row in the customer's log (the target named by the customer)."""
    target = {
        "target_type": "INSTALLATION_REQUEST",
        "target_id": str(request.id),
        "target_name": customer.name or customer.external_id or "",
    }
    audit.record(repo.session, repo.principal, action, customer=customer, changes=changes, **target)
