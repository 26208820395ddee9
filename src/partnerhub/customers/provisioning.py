"""The provisioning state machine, run by the ``customers.provision`` job.

Level-triggered and idempotent: the job reads the customer's ``status`` and per-package
``resourceDetails`` and does what is still missing, so running it twice, or again after a
crash, changes nothing that is done. Guarantees:

* one organization per customer: ``org_id`` is written once (``WHERE org_id IS NULL``; unique
  in the database) and the backend derives it from the customer id;
* one first administrator per customer and per email: the ``administrator`` marker in
  ``resource_details`` is written in the same transaction as the ``org_users`` row (whose
  lower-cased email is unique across all organizations);
* one invitation email: written to the outbox in that same transaction, keyed
  ``customer:<id>:admin_invite``.

Every write locks the customer row and checks that the status is still the one the job
started from. Jobs are serialized per customer by procrastinate's ``lock``.

Downstream failures: :class:`~partnerhub.backends.TransientError` adds a 2560 warning to the
package and the job is retried (:class:`RetryLater`); when the retries run out, or on a
:class:`~partnerhub.backends.PermanentError`, the package goes to ``error`` (2561), and the
customer settles as ``provisioned_with_errors`` (something works) or ``error`` (nothing does).
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from partnerhub import backends, runtime
from partnerhub.backends import (
    BackendError,
    OrgRequest,
    PackageRequest,
    PermanentError,
    TransientError,
)
from partnerhub.catalog import packages as catalog
from partnerhub.customers.repository import insert_org_user_once, lock_customer
from partnerhub.customers.service import (
    BUSY,
    EMAIL_TAKEN_CODE,
    FAILED_CODE,
    PRIMARY_EMAIL,
    WARNING_CODE,
)
from partnerhub.db import Database
from partnerhub.identity import org_auth
from partnerhub.identity.repository import IdentityEmailRepository
from partnerhub.identity.service import domain_of_another_family
from partnerhub.kit.validators import email_domain
from partnerhub.locations.service import ensure_hq_location
from partnerhub.models import Customer, CustomerEvent
from partnerhub.models.base import utcnow
from partnerhub.models.identity_email import PARTNER_ADMIN
from partnerhub.notifications import service as notifications
from partnerhub.ops import metrics

log = logging.getLogger(__name__)

INVITE_KIND = "admin_invite"
# Progress is written at most this often while packages are being provisioned.
PROGRESS_SECONDS = 0.25

Change = Callable[[Customer], None]


class RetryLater(Exception):
    """Transient downstream failures remain: run the job again later."""


class _Stale(Exception):
    """The customer is gone or its status changed: this job has nothing left to do."""


@dataclass
class Snapshot:
    id: uuid.UUID
    partner_id: uuid.UUID
    status: str
    org_id: uuid.UUID | None
    name: str | None
    external_id: str
    data_region: str
    country: str
    parameters: dict[str, Any]
    entries: list[dict[str, Any]] = field(default_factory=list)

    def request(self, package: str, org_id: uuid.UUID) -> PackageRequest:
        """What the backend is asked for ``package`` of this customer (in its organization
        ``org_id``, once there is one)."""
        return PackageRequest(
            customer_id=self.id,
            org_id=org_id,
            package=package,
            data_region=self.data_region,
            parameters=self.parameters,
        )


def _snapshot(c: Customer) -> Snapshot:
    return Snapshot(
        id=c.id,
        partner_id=c.partner_id,
        status=c.status,
        org_id=c.org_id,
        name=c.name,
        external_id=c.external_id,
        data_region=c.data_region,
        country=(c.address or {}).get("country", ""),
        parameters=copy.deepcopy(c.provisioning_parameters or {}),
        entries=copy.deepcopy((c.resource_details or {}).get("packages") or []),
    )


def _event(
    session: AsyncSession, c: Customer, kind: str, status: str | None, **detail: Any
) -> None:
    session.add(
        CustomerEvent(
            id=uuid.uuid4(),
            partner_id=c.partner_id,
            customer_id=c.id,
            kind=kind,
            status=status,
            detail=detail,
            created=utcnow(),
        )
    )


async def _locked(session: AsyncSession, snap: Snapshot) -> Customer:
    c = await lock_customer(session, snap.id)
    if c is None or c.status != snap.status:
        raise _Stale()
    return c


async def _apply(db: Database, snap: Snapshot, changes: list[Change]) -> None:
    if not changes:
        return
    async with db.transaction() as session:
        c = await _locked(session, snap)
        for change in changes:
            change(c)
        await _materialize_hq(session, c)
    changes.clear()


async def _materialize_hq(session: AsyncSession, c: Customer) -> None:
    """Create the recorded HQ location and its numbers once the organization exists
    (idempotent: later calls only add recorded numbers still missing)."""
    if c.hq_location and c.org_id is not None:
        await ensure_hq_location(session, c)


# --- changes to a customer's resource details ----------------------------------------------


def _edit_entry(c: Customer, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    details = copy.deepcopy(c.resource_details or {})
    for entry in details.get("packages") or []:
        if entry["name"] == name:
            edit(entry)
    c.resource_details = details


def _warning(exc: BackendError) -> dict[str, Any]:
    return {
        "errorCode": WARNING_CODE,
        "description": f"{exc.description}; provisioning will retry",
    }


def _failure(exc: BackendError, exhausted: bool) -> dict[str, Any]:
    why = "retries exhausted" if exhausted else "refused"
    return {"errorCode": FAILED_CODE, "description": f"{exc.description} ({why})"}


def warn(name: str, exc: BackendError) -> Change:
    def change(c: Customer) -> None:
        def edit(entry: dict[str, Any]) -> None:
            warning = _warning(exc)
            if warning not in entry.setdefault("warnings", []):
                entry["warnings"].append(warning)

        _edit_entry(c, name, edit)

    return change


def fail(name: str, exc: BackendError, exhausted: bool = False) -> Change:
    def change(c: Customer) -> None:
        def edit(entry: dict[str, Any]) -> None:
            entry["status"] = "error"
            entry["errors"] = [_failure(exc, exhausted)]

        _edit_entry(c, name, edit)

    return change


def provisioned(name: str, details: dict[str, Any], snap: Snapshot) -> Change:
    def change(c: Customer) -> None:
        def edit(entry: dict[str, Any]) -> None:
            entry["status"] = "provisioned"
            entry["errors"] = []

        _edit_entry(c, name, edit)
        if details.get("sipDomain") and c.sip_domain is None:
            c.sip_domain = str(details["sipDomain"])
        location = (snap.parameters.get("calling") or {}).get("location")
        if details.get("locationId") and c.hq_location is None and location:
            c.hq_location = {"locationId": str(details["locationId"]), **copy.deepcopy(location)}

    return change


def removed(name: str) -> Change:
    def change(c: Customer) -> None:
        details = copy.deepcopy(c.resource_details or {})
        details["packages"] = [e for e in details.get("packages") or [] if e["name"] != name]
        c.resource_details = details

    return change


# --- the job ------------------------------------------------------------------------------


async def run(customer_id: uuid.UUID, *, attempt: int, final: bool) -> None:
    """Move one customer towards its desired state (see the module docstring)."""
    db = runtime.database()
    async with db.transaction() as session:
        c = await session.get(Customer, customer_id)
        if c is None or c.status not in BUSY:
            return
        snap = _snapshot(c)
    operation = "delete" if snap.status == "deleting" else "provision"
    outcome: str | None
    try:
        if operation == "delete":
            outcome = await _remove(db, snap, attempt, final)
        else:
            outcome = await _provision(db, snap, attempt, final)
    except _Stale:
        return
    except Exception as exc:
        if isinstance(exc, RetryLater) or not final:
            metrics.provisioning(operation, "retry")
            raise
        log.exception("provisioning customer %s failed on its last attempt", customer_id)
        outcome = await _give_up(db, snap)
    if outcome is not None:  # counted once committed (ops/metrics.py)
        metrics.provisioning(operation, outcome)


async def _give_up(db: Database, snap: Snapshot) -> str | None:
    """Last attempt ended in an unexpected error: settle instead of staying busy forever."""

    def change(c: Customer) -> None:
        c.errors = [
            *(c.errors or []),
            {"errorCode": FAILED_CODE, "description": "Provisioning failed unexpectedly"},
        ]

    try:
        async with db.transaction() as session:
            c = await _locked(session, snap)
            change(c)
            _settle(session, c, "error")
    except _Stale:
        return None
    return "error"


async def _provision(db: Database, snap: Snapshot, attempt: int, final: bool) -> str:
    backend = backends.current()
    pending: list[Change] = []
    last_write = time.monotonic()
    if snap.org_id is None:
        request = OrgRequest(
            customer_id=snap.id,
            name=snap.name,
            external_id=snap.external_id,
            data_region=snap.data_region,
            country=snap.country,
        )
        try:
            org_id = await backend.identity.create_organization(request, attempt)
        except BackendError as exc:
            names = [e["name"] for e in snap.entries if e.get("status") == "provisioning"]
            if isinstance(exc, TransientError) and not final:
                await _apply(db, snap, [warn(n, exc) for n in names])
                raise RetryLater() from exc
            exhausted = isinstance(exc, TransientError)
            return await _finish(db, snap, [fail(n, exc, exhausted) for n in names])

        def set_org(c: Customer) -> None:
            if c.org_id is None:
                c.org_id = org_id

        # Written with the next progress write (a re-run asks the backend again, which
        # answers the same organization for the same customer).
        pending.append(set_org)
        snap.org_id = org_id
        if time.monotonic() - last_write > PROGRESS_SECONDS:
            await _apply(db, snap, pending)
            last_write = time.monotonic()
    assert snap.org_id is not None
    transient: list[tuple[str, TransientError]] = []
    for entry in snap.entries:
        name, status = entry["name"], entry.get("status")
        if status not in ("provisioning", "deleting"):
            continue
        request_ = snap.request(name, snap.org_id)
        service = backend.for_package(name)
        try:
            if status == "provisioning":
                details = await service.provision(request_, attempt)
                pending.append(provisioned(name, details, snap))
            else:
                await service.deprovision(request_, attempt)
                pending.append(removed(name))
        except TransientError as exc:
            transient.append((name, exc))
            pending.append(warn(name, exc))
        except PermanentError as exc:
            pending.append(fail(name, exc))
        if time.monotonic() - last_write > PROGRESS_SECONDS:
            await _apply(db, snap, pending)
            last_write = time.monotonic()
    if transient and not final:
        await _apply(db, snap, pending)
        raise RetryLater()
    pending += [fail(name, exc, exhausted=True) for name, exc in transient]
    return await _finish(db, snap, pending)


def _outcome(c: Customer) -> str:
    entries = (c.resource_details or {}).get("packages") or []
    if c.org_id is None:
        return "error"
    errors = [e for e in entries if e.get("status") == "error"]
    working = [e for e in entries if e.get("status") == "provisioned" and e["name"] in c.packages]
    if not errors and not c.errors:
        return "provisioned"
    if not working:
        return "error"
    return "provisioned_with_errors"


def _settle(session: AsyncSession, c: Customer, status: str) -> None:
    previous = c.status
    c.status = status
    c.last_status_change = utcnow()
    _event(session, c, "status", status, previous=previous)


async def _finish(db: Database, snap: Snapshot, pending: list[Change]) -> str:
    """Last write: remaining changes, the first administrator and its invitation, status
    (returned)."""
    email_id: uuid.UUID | None = None
    async with db.transaction() as session:
        c = await _locked(session, snap)
        for change in pending:
            change(c)
        await _materialize_hq(session, c)
        if c.org_id is not None:
            email_id = await _first_administrator(session, c)
        outcome = _outcome(c)
        _settle(session, c, outcome)
    if email_id is not None and notifications.smtp_configured():
        from partnerhub.notifications.tasks import enqueue

        try:
            await enqueue(email_id)
        except Exception:  # the outbox flusher picks it up within a minute
            log.warning("could not defer delivery of email %s", email_id, exc_info=True)
    return outcome


async def _first_administrator(session: AsyncSession, c: Customer) -> uuid.UUID | None:
    """Create the organization's first full administrator and queue its invitation, once.

    Returns the id of the queued email, if any.
    """
    details = copy.deepcopy(c.resource_details or {})
    if "administrator" in details:
        return None
    email_settings = (c.settings or {}).get("email") or {}
    attached = bool(details.get("attachedOrganization"))
    if not c.primary_email:
        details["administrator"] = {"skipped": "no customerInfo.primaryEmail"}
        c.resource_details = details
        return None
    if attached and not email_settings.get("allowAdminInviteOnLink"):
        details["administrator"] = {"skipped": "linked organization; invitations not allowed"}
        c.resource_details = details
        return None
    package = catalog.highest_tier(c.packages or [])
    user_id = uuid.uuid4()
    # One identity per address: a partner administrator's address is taken too. And an
    # identity provider of another partner family may have claimed the address's domain since
    # the request was accepted (the request refuses it: customers.service.conflict_problems).
    identities = IdentityEmailRepository(session)
    held_by = await identities.kind(c.primary_email)
    domain = email_domain(c.primary_email)
    claimed = await identities.other_family_domains([domain] if domain else [], c.partner_id)
    elsewhere = domain in claimed
    inserted = (
        None
        if held_by == PARTNER_ADMIN or elsewhere
        else await insert_org_user_once(
            session,
            id=user_id,
            partner_id=c.partner_id,
            customer_id=c.id,
            org_id=c.org_id,
            email=c.primary_email.lower(),
            first_name=None,
            last_name=None,
            roles=["full_admin"],
            package=package,
            status="provisioned",
            created=utcnow(),
            last_status_change=utcnow(),
        )
    )
    if inserted is None:
        code, description = (
            EMAIL_TAKEN_CODE,
            (
                f"customerInfo.primaryEmail: '{c.primary_email}' already belongs to a user; "
                "the first administrator was not created"
            ),
        )
        if elsewhere:
            refusal = domain_of_another_family(c.primary_email, PRIMARY_EMAIL)
            code = refusal.code
            description = f"{refusal.description}; the first administrator was not created"
        c.errors = [*(c.errors or []), {"errorCode": code, "description": description}]
        details["administrator"] = {"error": description}
        c.resource_details = details
        return None
    details["administrator"] = {"id": str(user_id), "email": c.primary_email.lower()}
    c.resource_details = details
    _event(session, c, "note", None, administrator=c.primary_email.lower(), package=package)
    snapshot = c.settings or {}
    brand = str(email_settings.get("brandName") or "PartnerHub")
    language = notifications.pick_language(
        INVITE_KIND, c.language, snapshot.get("defaultEmailLanguage")
    )
    return await notifications.queue(
        session,
        partner_id=c.partner_id,
        customer_id=c.id,
        dedupe_key=f"customer:{c.id}:{INVITE_KIND}",
        kind=INVITE_KIND,
        to=c.primary_email,
        language=language,
        context={
            "brand_name": brand,
            "customer_name": c.name or c.external_id,
            "admin_email": c.primary_email,
            "packages": [catalog.PACKAGES[p].label for p in c.packages or []],
            # A single-use link to set a password (platform authentication), or the
            # sign-in page (the organization signs in through the partner's IdP).
            "sign_in_url": await org_auth.sign_in_url(session, user_id, c),
        },
        from_name=brand,
    )


async def _remove(db: Database, snap: Snapshot, attempt: int, final: bool) -> str:
    """DELETE: remove every package, then the organization, then the row; returns
    ``deleted`` or ``error``."""
    backend = backends.current()
    pending: list[Change] = []
    transient: list[tuple[str, TransientError]] = []
    failed = False
    for entry in snap.entries:
        name = entry["name"]
        if snap.org_id is None:
            pending.append(removed(name))
            continue
        request_ = snap.request(name, snap.org_id)
        try:
            await backend.for_package(name).deprovision(request_, attempt)
            pending.append(removed(name))
        except TransientError as exc:
            transient.append((name, exc))
            pending.append(warn(name, exc))
        except PermanentError as exc:
            failed = True
            pending.append(fail(name, exc))
    if transient and not final:
        await _apply(db, snap, pending)
        raise RetryLater()
    if transient or failed:
        pending += [fail(name, exc, exhausted=True) for name, exc in transient]
        async with db.transaction() as session:
            c = await _locked(session, snap)
            for change in pending:
                change(c)
            c.errors = [
                *(c.errors or []),
                {"errorCode": FAILED_CODE, "description": "The customer could not be deleted"},
            ]
            _settle(session, c, "error")
        return "error"
    if snap.org_id is not None and not await _delete_org(db, snap, attempt, final):
        return "error"
    async with db.transaction() as session:
        c = await _locked(session, snap)
        _event(session, c, "status", "deleted", previous=c.status)
        await session.delete(c)
    return "deleted"


async def _delete_org(db: Database, snap: Snapshot, attempt: int, final: bool) -> bool:
    assert snap.org_id is not None
    try:
        await backends.current().identity.delete_organization(snap.org_id, attempt)
        return True
    except BackendError as exc:
        if isinstance(exc, TransientError) and not final:
            raise RetryLater() from exc
        async with db.transaction() as session:
            c = await _locked(session, snap)
            c.errors = [*(c.errors or []), _failure(exc, isinstance(exc, TransientError))]
            _settle(session, c, "error")
        return False
