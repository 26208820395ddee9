"""Starting a bulk import: the file prechecked and, when every row passes, its ``queued`` import
row added (the job, :func:`partnerhub.subscribers.tasks.perform`, runs it later)."""

from __future__ import annotations

from partnerhub import ids
from partnerhub.audit import service as audit
from partnerhub.kit.scope import Principal
from partnerhub.models import Customer, SubscriberImport
from partnerhub.subscribers.imports.checking import check
from partnerhub.subscribers.imports.reporting import Report
from partnerhub.subscribers.repository import SubscriberRepository


async def start(
    repo: SubscriberRepository,
    customer: Customer,
    text: str,
    principal: Principal,
    *,
    dry_run: bool = False,
) -> tuple[Report, SubscriberImport | None]:
    """Precheck ``text`` and, when every row passes and not ``dry_run``, add the ``queued``
    import row (inside the caller's transaction; defer its job with
    :func:`partnerhub.subscribers.tasks.enqueue` after the commit). With failing rows or
    ``dry_run`` nothing is written and the import is None. Used by the API and the portal; the
    start is recorded in the customer's audit log."""
    report = await check(repo, customer, text, principal)
    if report.errors or dry_run:
        return report, None
    record = SubscriberImport(
        partner_id=customer.partner_id,
        customer_id=customer.id,
        created_by=principal.actor_email,
        status="queued",
        total=report.total,
        processed=0,
        created_count=report.new_count,
        existing_count=len(report.existing),
        source=text,
        errors=[],
    )
    repo.session.add(record)
    await repo.session.flush()
    audit.record(
        repo.session,
        principal,
        "import.create",
        customer=customer,
        target_type="IMPORT",
        target_id=ids.encode("IMPORT", record.id, ids.region_of(customer.data_region)),
        target_name=customer.name or customer.external_id or "",
        detail={"rows": report.total, "new": report.new_count, "existing": len(report.existing)},
    )
    return report, record
