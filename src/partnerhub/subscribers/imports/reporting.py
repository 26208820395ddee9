"""What a bulk import reports: the :class:`Report` of checking a file (its row errors, existing
and new rows) and the result CSV, one line per subscriber row."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from partnerhub import ids
from partnerhub.models import Customer
from partnerhub.subscribers import service
from partnerhub.subscribers.repository import PENDING

RESULT_COLUMNS = ("row", "email", "result", "subscriber_id", "phone_number", "extension")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str
    code: int

    def describe(self) -> str:
        where = f"row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class Report:
    """The outcome of checking a file. ``plans`` holds the new rows only when the caller
    asked for them (:func:`.checking.check`); ``new_count`` always counts them."""

    total: int = 0
    plans: list[tuple[int, service.Plan]] = field(default_factory=list)
    existing: list[tuple[int, uuid.UUID, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new_count: int = 0


def outcome(plan: service.Plan) -> str:
    """The result column of a new row."""
    return "pending_user_migration" if plan.status == PENDING else "created"


def id_encoder(kind: str, region: str) -> Callable[[str], str]:
    """``ids.encode(kind, uuid, region)`` from the uuid's text. The encoded prefix is computed
    once when the id is the base64 of a 3-byte-aligned prefix and the uuid's text (checked on
    two probes against :func:`ids.encode`), else every id goes through it."""
    probes = [uuid.UUID(int=0), uuid.UUID("6f1c2b7e-93d4-4a5b-8c6d-0e1f2a3b4c5d")]
    whole = ids.encode(kind, probes[0], region)
    tail = base64.urlsafe_b64encode(str(probes[0]).encode()).decode()
    head = whole[: -len(tail)]
    b64 = base64.urlsafe_b64encode

    def fast(text: str) -> str:
        return head + b64(text.encode()).decode()

    if whole.endswith(tail) and len(head) % 4 == 0 and "=" not in head + tail:
        if all(fast(str(p)) == ids.encode(kind, p, region) for p in probes):
            return fast
    return lambda text: ids.encode(kind, uuid.UUID(text), region)


def result_csv(customer: Customer, report: Report) -> str:
    """The downloadable result of a :func:`.checking.check` report: one line per subscriber
    row of the file, in file order (:func:`.writing.run` writes the same while importing)."""
    region = (customer.data_region or "us").lower()
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(RESULT_COLUMNS)
    lines: list[tuple[int, list[str]]] = []
    for number, plan in report.plans:
        lines.append(
            (
                number,
                [
                    str(number),
                    plan.email,
                    outcome(plan),
                    ids.encode("SUBSCRIBER", plan.user_id, region),
                    plan.phone_number or "",
                    plan.extension or "",
                ],
            )
        )
    for number, user_id, email in report.existing:
        lines.append(
            (
                number,
                [str(number), email, "existing", ids.encode("SUBSCRIBER", user_id, region), "", ""],
            )
        )
    for _, line in sorted(lines, key=lambda item: item[0]):
        w.writerow(line)
    return out.getvalue()
