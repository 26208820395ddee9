"""Checking a bulk import's rows, in one pass over the file: each row through the subscriber
service's own rules (:func:`partnerhub.subscribers.service.plan_new`) against the file's
:class:`~partnerhub.subscribers.imports.facts.MemoryFacts`, its outcome handed to a
:class:`Sink` (kept for a precheck, or streamed into the database while importing:
:mod:`partnerhub.subscribers.imports.writing`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from partnerhub import ids
from partnerhub.errors import ApiError
from partnerhub.kit.scope import Principal
from partnerhub.models import Customer
from partnerhub.subscribers import service
from partnerhub.subscribers.imports.facts import MemoryFacts
from partnerhub.subscribers.imports.phone_numbers import PARSE_WORKERS, Phones
from partnerhub.subscribers.imports.reading import COLUMNS, CsvRow, iter_rows
from partnerhub.subscribers.imports.reporting import Report, RowError
from partnerhub.subscribers.repository import SubscriberRepository

BATCH = 2000  # rows between progress reports
YIELD_EVERY = 500  # rows between hand-backs of the event loop
PARALLEL_MIN = 20_000  # rows (lines) from which numbers are parsed by helper processes
CHUNK_ROWS = 5000  # rows read, parsed and looked up together
AHEAD = 3  # chunks read ahead of the checking
# Rule field → CSV column.
_COLUMN_OF = {"packages": "package", "customer": "", "primary_email": ""}

Stage = Callable[[str, int, int | None], Awaitable[None]]
"""``(stage, rows, total or None)``: ``read`` (rows read so far; the total once the whole
file is read) and ``check`` (rows checked, and written when importing)."""


def _input(customer_ref: str, row: CsvRow) -> service.SubscriberInput:
    given = frozenset(
        k
        for k, v in (
            ("phone_number", row.phone_number),
            ("extension", row.extension),
            ("location", row.location),
        )
        if v
    )
    role = row.admin_role
    return service.SubscriberInput(
        customer=customer_ref,
        email=row.email,
        packages=[row.package],
        first_name=row.first_name or None,
        last_name=row.last_name or None,
        phone_number=row.phone_number or None,
        extension=row.extension or None,
        location=row.location or None,
        roles=[r for r in re.split(r"[;|]", role) if r.strip()] if role else None,
        given=given,
    )


def _problem(row: CsvRow, exc: ApiError) -> list[RowError]:
    problems = getattr(exc, "problems", None) or [exc]
    out = []
    for p in problems:
        column = _COLUMN_OF.get(p.field or "", p.field or "")
        out.append(RowError(row.number, column, p.description, p.code))
    return out


class Sink:
    """What happens to each row's outcome once its rules are checked."""

    def new(self, number: int, plan: service.Plan) -> None:
        pass

    def existing(self, number: int, user_id: uuid.UUID, email: str) -> None:
        pass

    def fail(self) -> None:
        pass

    async def flush(self) -> None:
        pass


class _Keep(Sink):
    def __init__(self, report: Report) -> None:
        self.report = report

    def new(self, number: int, plan: service.Plan) -> None:
        self.report.plans.append((number, plan))


@dataclass
class _Chunk:
    """Consecutive rows with what reading found: each row's normalized email (None when it
    fails: the check raises its error), the raw numbers, ``(location reference, extension)``
    pairs and, once started, the task loading their facts."""

    rows: list[CsvRow] = field(default_factory=list)
    emails: list[str | None] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    refs: set[tuple[str, str]] = field(default_factory=set)
    ready: asyncio.Task[None] | None = None


def _chunks(rows: Iterable[CsvRow]) -> Iterator[_Chunk]:
    chunk = _Chunk()
    for row in rows:
        chunk.rows.append(row)
        try:
            chunk.emails.append(service.check_email(row.email))
        except ApiError:
            chunk.emails.append(None)
        if row.phone_number:
            chunk.numbers.append(row.phone_number)
        if row.extension:
            chunk.refs.add((row.location, row.extension))
        if len(chunk.rows) == CHUNK_ROWS:
            yield chunk
            chunk = _Chunk()
    if chunk.rows:
        yield chunk


async def _load_chunk(
    chunk: _Chunk,
    before: asyncio.Task[None] | None,
    parsing: asyncio.Task[None],
    facts: MemoryFacts,
    facts_repo: SubscriberRepository,
) -> None:
    """The facts of a chunk's keys, after the previous chunk's (in file order: a key is
    looked up once, before any row claims it)."""
    if before is not None:
        await before
    await parsing
    pairs: set[tuple[uuid.UUID, str]] = set()
    for ref, extension in chunk.refs:
        target = facts.resolve(ref) if ref else facts.hq
        if target is not None:
            pairs.add((target.id, extension))
    numbers = {e164 for raw in chunk.numbers if (e164 := facts.parsed[raw]) is not None}
    emails = {e for e in chunk.emails if e is not None}
    await facts.load_more(facts_repo, emails, numbers, pairs)


async def check_rows(
    repo: SubscriberRepository,
    facts_repo: SubscriberRepository,
    customer: Customer,
    rows: Iterable[CsvRow],
    principal: Principal,
    report: Report,
    *,
    size: int,
    sink: Callable[[], Awaitable[Sink]],
    stage: Stage | None,
    lock: bool,
) -> Sink:
    """Read, check and hand each row to the sink, in one pass over the file.

    The file is read in chunks of ``CHUNK_ROWS``, ``AHEAD`` chunks ahead of the checking:
    each chunk's numbers are parsed and its facts loaded (through ``facts_repo``) in the
    background while earlier chunks are checked; every rule runs for every row, in file
    order, against the facts (updated row by row). ``sink()`` is called once the customer's
    own facts are loaded (importing, it opens the ``COPY`` on ``repo``'s connection, so
    ``facts_repo`` must then be another one). ``lock``: the customer's limited packages are
    locked first, as a request locks its package."""
    facts = MemoryFacts(customer)
    numbers = Phones(facts.parsed, PARSE_WORKERS if size >= PARALLEL_MIN else 0)
    reader = _chunks(rows)
    pending: deque[_Chunk] = deque()
    tasks: list[asyncio.Task[None]] = []
    try:
        upcoming: _Chunk | None = next(reader)  # the file's own problems come first
        service.check_customer(customer)
        await facts.load_locations(repo)
        if lock:
            await facts.lock_limited(repo)
        await facts.load_counts(repo)
        out = await sink()
        customer_ref = ids.encode("CUSTOMER", customer.id, ids.region_of(customer.data_region))
        last: asyncio.Task[None] | None = None
        read = done = 0
        exhausted = False
        while True:
            while not exhausted and len(pending) < AHEAD:
                chunk = upcoming if upcoming is not None else next(reader, None)
                upcoming = None
                if chunk is None:
                    exhausted = True
                    report.total = read
                    if stage is not None:
                        await stage("read", read, read)
                    break
                read += len(chunk.rows)
                parsing = asyncio.create_task(numbers.batch(chunk.numbers))
                last = asyncio.create_task(_load_chunk(chunk, last, parsing, facts, facts_repo))
                chunk.ready = last
                tasks += [parsing, last]
                pending.append(chunk)
                if stage is not None:
                    await stage("read", read, None)
                await asyncio.sleep(0)
            if not pending:
                break
            chunk = pending.popleft()
            assert chunk.ready is not None
            await chunk.ready
            for row, known in zip(chunk.rows, chunk.emails, strict=True):
                done += 1
                if row.extra:
                    message = f"more values than the {len(COLUMNS)} columns"
                    report.errors.append(RowError(row.number, "", message, 1003))
                    out.fail()
                else:
                    try:
                        email = known if known is not None else service.check_email(row.email)
                        user_id = facts.mine(email)
                        if user_id is not None:
                            report.existing.append((row.number, user_id, email))
                            out.existing(row.number, user_id, email)
                        else:
                            inp = _input(customer_ref, row)
                            plan = await service.plan_new(facts, inp, principal)
                            if plan.email == email:
                                plan.email = email  # one string for the row's email, not two
                            facts.claim(plan.user_id, plan)
                            report.new_count += 1
                            out.new(row.number, plan)
                    except ApiError as exc:
                        report.errors.extend(_problem(row, exc))
                        out.fail()
                if done % YIELD_EVERY == 0:
                    await out.flush()
                    if stage is not None and done % BATCH == 0:
                        await stage("check", done, report.total or None)
                    await asyncio.sleep(0)
        await out.flush()
        return out
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await numbers.close()


async def check(
    repo: SubscriberRepository,
    customer: Customer,
    rows: Iterable[CsvRow] | str,
    principal: Principal,
    *,
    keep_plans: bool = True,
) -> Report:
    """Check every row (nothing is written); existing users of the customer are reported.
    ``rows``: parsed rows, or the CSV text itself (read as a stream). Without ``keep_plans``
    only the number of new rows is kept (``report.new_count``)."""
    source: Iterable[CsvRow]
    if isinstance(rows, str):
        size, source = rows.count("\n"), iter_rows(rows)
    else:
        source = rows if isinstance(rows, list) else list(rows)
        size = len(source)
    report = Report()

    async def sink() -> Sink:
        return _Keep(report) if keep_plans else Sink()

    with gc_paused(size):
        await check_rows(
            repo, repo, customer, source, principal, report,
            size=size, sink=sink, stage=None, lock=False,
        )  # fmt: skip
    return report


_gc_pauses = 0
PAUSE_GC_MIN = 5000  # rows (lines) from which a file is checked without cyclic collection


@contextlib.contextmanager
def gc_paused(rows: int) -> Iterator[None]:
    """No cyclic garbage collection while a large file is checked: it allocates hundreds of
    thousands of long-lived objects (facts, claims) and almost no cycles, and the collector's
    repeated full scans of them cost a fifth of the work. Process-wide while it lasts (a
    worker's other jobs too); with two imports at once it resumes after the last."""
    global _gc_pauses
    if rows < PAUSE_GC_MIN or (not _gc_pauses and not gc.isenabled()):
        yield
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if not _gc_pauses:
            gc.enable()
