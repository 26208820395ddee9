"""Writing a bulk import's new subscribers: lines of ``COPY org_users`` (text format), streamed
while the rows are checked (:func:`run`, the import job) or from a checked report
(:func:`write`), inside the caller's transaction."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg

from partnerhub.errors import ApiError
from partnerhub.kit.scope import Principal
from partnerhub.models import Customer
from partnerhub.models.base import utcnow
from partnerhub.subscribers import service
from partnerhub.subscribers.imports.checking import BATCH, Sink, Stage, check_rows, gc_paused
from partnerhub.subscribers.imports.reading import iter_rows
from partnerhub.subscribers.imports.reporting import RESULT_COLUMNS, Report, id_encoder, outcome
from partnerhub.subscribers.repository import SubscriberRepository

COPY_ROWS = 10_000  # rows per COPY statement (its foreign keys are checked at its end)
_COPY_COLUMNS = (
    "id",
    "partner_id",
    "customer_id",
    "org_id",
    "email",
    "first_name",
    "last_name",
    "roles",
    "package",
    "location_id",
    "phone_number",
    "extension",
    "status",
    "created",
    "last_status_change",
)
COPY_STATEMENT = f"COPY org_users ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")


def copy_text(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.translate(_ESCAPE) if _SPECIAL.search(value) else value


def _array(values: list[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return ("{" + ",".join(quoted) + "}").translate(_ESCAPE)


class _Lines:
    """``org_users`` rows as lines of ``COPY ... FROM STDIN`` (text format) for one customer;
    the same values :func:`partnerhub.subscribers.service.new_user` would insert."""

    def __init__(self, customer: Customer, now: datetime) -> None:
        assert customer.org_id is not None
        self.head = f"\t{customer.partner_id}\t{customer.id}\t{customer.org_id}\t"
        stamp = now.isoformat()
        self.tail = f"\t{stamp}\t{stamp}\n"

    def line(self, plan: service.Plan, user_id: str | None = None) -> str:
        location = plan.location_id
        return "".join(
            (
                user_id or str(plan.user_id),
                self.head,
                copy_text(plan.email),
                "\t",
                copy_text(plan.first_name),
                "\t",
                copy_text(plan.last_name),
                "\t",
                _array(plan.roles) if plan.roles else "{}",
                "\t",
                copy_text(plan.package),
                "\t",
                "\\N" if location is None else str(location),
                "\t",
                copy_text(plan.phone_number),
                "\t",
                copy_text(plan.extension),
                "\t",
                copy_text(plan.status),
                self.tail,
            )
        )


async def _raw_connection(repo: SubscriberRepository) -> psycopg.AsyncConnection[Any]:
    connection = await repo.session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    return raw


def _constraint_error(exc: psycopg.errors.IntegrityError) -> ApiError | None:
    return service.constraint_problem(getattr(exc.diag, "constraint_name", None) or "")


class _Import(Sink):
    """Streams accepted rows into ``COPY org_users`` and writes the result CSV as it goes;
    after the first failing row (``stopped``) nothing more is sent.

    One ``COPY`` statement per ``COPY_ROWS`` rows: the database checks the foreign keys of a
    statement's rows when the statement ends, and that end is awaited in the background
    (the next rows wait in memory meanwhile), so those checks too run beside the checking
    here instead of all at the end."""

    def __init__(self, customer: Customer, cursor: psycopg.AsyncCursor[Any]) -> None:
        self.cursor = cursor
        self.statement: Any = None  # the open COPY's context manager
        self.copy: psycopg.AsyncCopy | None = None
        self.in_copy = 0
        self.ending: asyncio.Task[None] | None = None
        self.lines = _Lines(customer, utcnow())
        self.ref = id_encoder("SUBSCRIBER", (customer.data_region or "us").lower())
        self.pending: list[str] = []
        self.result = io.StringIO()
        self.out = csv.writer(self.result)
        self.out.writerow(RESULT_COLUMNS)
        self.stopped = False

    def new(self, number: int, plan: service.Plan) -> None:
        if self.stopped:
            return
        user_id = str(plan.user_id)
        self.pending.append(self.lines.line(plan, user_id))
        self.out.writerow(
            (
                number,
                plan.email,
                outcome(plan),
                self.ref(user_id),
                plan.phone_number or "",
                plan.extension or "",
            )
        )

    def existing(self, number: int, user_id: uuid.UUID, email: str) -> None:
        if not self.stopped:
            subscriber = self.ref(str(user_id))
            self.out.writerow((number, email, "existing", subscriber, "", ""))

    def fail(self) -> None:
        self.stopped = True
        self.pending.clear()

    async def flush(self, last: bool = False) -> None:
        if self.stopped or not (self.pending or last):
            return
        if self.ending is not None:
            if not (last or self.ending.done()):
                return  # the database is ending the previous statement: keep the rows
            ending, self.ending = self.ending, None
            await ending  # its constraint error, if any, is raised here
        if self.pending:
            if self.copy is None:
                self.statement = self.cursor.copy(COPY_STATEMENT)
                self.copy = await self.statement.__aenter__()
            assert self.copy is not None
            data, self.pending = "".join(self.pending), []
            self.in_copy += data.count("\n")
            await self.copy.write(data)
        if self.copy is not None and (last or self.in_copy >= COPY_ROWS):
            statement, self.statement, self.copy, self.in_copy = self.statement, None, None, 0
            self.ending = asyncio.create_task(statement.__aexit__(None, None, None))
            if last:
                ending, self.ending = self.ending, None
                await ending

    async def abort(self) -> None:
        """Leave the connection usable (for the rollback) after a failure."""
        self.stopped = True
        if self.ending is not None:
            with contextlib.suppress(Exception):
                await self.ending
            self.ending = None
        if self.statement is not None:
            failure = _RowsFailed()
            statement, self.statement, self.copy = self.statement, None, None
            with contextlib.suppress(Exception):
                await statement.__aexit__(_RowsFailed, failure, None)


class _RowsFailed(Exception):
    pass


async def run(
    repo: SubscriberRepository,
    facts_repo: SubscriberRepository,
    customer: Customer,
    text: str,
    principal: Principal,
    stage: Stage | None = None,
) -> tuple[Report, str | None]:
    """Check the file and, while checking, insert its new rows with ``COPY`` inside
    ``repo``'s transaction; ``facts_repo`` (another connection: the ``COPY`` holds
    ``repo``'s) reads the facts meanwhile, the committed data ``repo`` would see.

    Returns the report and the result CSV. With row errors the result is None, nothing was
    written, and the caller's transaction must be rolled back (the aborted ``COPY`` leaves it
    failed). A constraint the database enforces (a concurrent request took a number
    meanwhile) gives the same clean error as a request."""
    report = Report()
    raw = await _raw_connection(repo)
    size = text.count("\n")
    async with raw.cursor() as cursor:
        importing = _Import(customer, cursor)

        async def sink() -> Sink:
            return importing

        try:
            with gc_paused(size):
                await check_rows(
                    repo, facts_repo, customer, iter_rows(text), principal, report,
                    size=size, sink=sink, stage=stage, lock=True,
                )  # fmt: skip
                if report.errors:
                    await importing.abort()
                    return report, None
                await importing.flush(last=True)  # the database inserts the last rows
        except psycopg.errors.IntegrityError as exc:
            await importing.abort()
            problem = _constraint_error(exc)
            if problem is None:
                raise
            raise problem from None
        except BaseException:
            await importing.abort()
            raise
    if stage is not None:
        await stage("check", report.total, report.total)
    return report, importing.result.getvalue()


Progress = Callable[[int], Awaitable[None]]


async def write(
    repo: SubscriberRepository,
    customer: Customer,
    report: Report,
    progress: Progress | None = None,
) -> int:
    """Insert the report's new subscribers (from :func:`.checking.check`) with ``COPY`` in
    batches (inside the caller's transaction); returns how many were written. A constraint the
    database enforces (a concurrent request took a number meanwhile) gives the same clean
    error as a request."""
    lines = _Lines(customer, utcnow())
    raw = await _raw_connection(repo)
    written = 0
    try:
        async with raw.cursor() as cursor:
            for begin in range(0, len(report.plans), BATCH):
                batch = report.plans[begin : begin + BATCH]
                async with cursor.copy(COPY_STATEMENT) as copy:
                    await copy.write("".join(lines.line(plan) for _, plan in batch))
                written += len(batch)
                if progress is not None:
                    await progress(written)
    except psycopg.errors.IntegrityError as exc:
        problem = _constraint_error(exc)
        if problem is None:
            raise
        raise problem from None
    return written
