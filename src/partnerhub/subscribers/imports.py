"""Bulk onboarding: subscribers from a CSV file, all or nothing (issue 4, item 6).

Columns (header row required; names are case-insensitive, blanks/``_``/``-`` ignored, so
``First name``, ``first_name`` and ``firstName`` are the same column):

==============  ========  ===============================================================
column          required  meaning
==============  ========  ===============================================================
first_name      no        the user's first name
last_name       no        the user's last name
email           yes       the user's email (unique across all organizations)
package         yes       one subscriber package (``webex_calling``, ``webex_meetings``...)
location        no        a location of the customer, by name or id; blank = headquarters
phone_number    no        an E.164 number of that location's inventory (calling packages)
extension       no        2 to 10 digits, unique in the location (calling packages)
admin_role      no        a customer role (``full_admin``, ``user_admin``, ...), see
                          :mod:`partnerhub.catalog.customer_roles`
==============  ========  ===============================================================

Every row is checked first, with the same rules as ``POST /v1/wholesale/subscribers``
(:func:`partnerhub.subscribers.service.plan_new`); a row whose email already belongs to a user
of this customer is *existing*: reported, not changed, not duplicated (re-running a file is
safe). If any row fails, nothing is imported and every failing row is reported as
``(row, column, message)``; ``row`` is the line number as a spreadsheet shows it (the header
is row 1, the first subscriber row 2). Otherwise all new rows are inserted in one
transaction.

How a large file stays fast and small (docs/performance.md): the text is read once, as a
stream of small tuples, in chunks of ``CHUNK_ROWS`` a few chunks ahead of the checking. For
each chunk read, its phone numbers are parsed (by helper processes for a large file) and the
facts its rows need (users holding its emails, inventory facts of its numbers, owners of its
extensions) are loaded with three set queries, in the background and in file order
(:class:`MemoryFacts`); meanwhile earlier chunks go through
:func:`~partnerhub.subscribers.service.plan_new` row by row against those facts (updated row
by row, so that two rows claiming one number conflict exactly as two requests would). When
importing, each accepted row is at once a pre-formatted line of ``COPY org_users`` on the
import's connection (the facts are read on a second one), so PostgreSQL inserts while Python
checks; a ``COPY`` statement ends every ``COPY_ROWS`` rows, in the background, so its foreign
keys are checked meanwhile too. A failing row stops the stream (the remaining rows are still
checked, to report them all) and the transaction is rolled back: nothing is written. The
event loop is handed back every few hundred rows, so a worker's heartbeat and other requests
keep running.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import gc
import io
import json
import logging
import os
import re
import sys
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

import psycopg

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.errors import ApiError, InvalidValue, MissingField
from partnerhub.kit.scope import Principal
from partnerhub.kit.validators import normalize_email
from partnerhub.models import Customer, Location, SubscriberImport
from partnerhub.models.base import utcnow
from partnerhub.subscribers import service
from partnerhub.subscribers.repository import (
    PENDING,
    EmailUser,
    NumberFact,
    SubscriberRepository,
)

log = logging.getLogger(__name__)

COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "package",
    "location",
    "phone_number",
    "extension",
    "admin_role",
)
REQUIRED = ("email", "package")
MAX_ROWS = 200_000
BATCH = 2000  # rows between progress reports
YIELD_EVERY = 500  # rows between hand-backs of the event loop
PARALLEL_MIN = 20_000  # rows (lines) from which numbers are parsed by helper processes
CHUNK_ROWS = 5000  # rows read, parsed and looked up together
AHEAD = 3  # chunks read ahead of the checking
COPY_ROWS = 10_000  # rows per COPY statement (its foreign keys are checked at its end)
PARSE_WORKERS = max(1, min(4, os.cpu_count() or 1))
_ALIASES = {
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "email": "email",
    "emailaddress": "email",
    "package": "package",
    "location": "location",
    "locationname": "location",
    "locationid": "location",
    "phonenumber": "phone_number",
    "primaryphonenumber": "phone_number",
    "phone": "phone_number",
    "number": "phone_number",
    "extension": "extension",
    "ext": "extension",
    "adminrole": "admin_role",
    "role": "admin_role",
}
# Rule field → CSV column.
_COLUMN_OF = {"packages": "package", "customer": "", "primary_email": ""}


@dataclass(frozen=True)
class Row:
    """A row given as values by column (the portal's "Add users" form, see
    :meth:`MemoryFacts.load`)."""

    number: int
    values: dict[str, str]


class CsvRow(NamedTuple):
    """One data row of a file, its cells stripped ("" when absent)."""

    number: int  # line number as a spreadsheet shows it (header = 1)
    first_name: str
    last_name: str
    email: str
    package: str
    location: str
    phone_number: str
    extension: str
    admin_role: str
    extra: bool  # more cells than columns


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
    asked for them (:func:`check`); ``new_count`` always counts them."""

    total: int = 0
    plans: list[tuple[int, service.Plan]] = field(default_factory=list)
    existing: list[tuple[int, uuid.UUID, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new_count: int = 0


class CsvProblem(InvalidValue):
    """The file itself is unusable (header, size, encoding)."""


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().lower())


def iter_rows(text: str) -> Iterator[CsvRow]:
    """The data rows of ``text``, one at a time; raises :class:`CsvProblem` (or
    :class:`MissingField`) for an unusable header or file, before or while yielding."""
    text = text.lstrip("\ufeff")
    if not text or text.isspace():
        raise MissingField("csv: the file is empty", field="csv")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise CsvProblem(f"csv: cannot read the header ({exc})", field="csv") from None
    columns: list[str] = []
    for raw in header:
        name = _ALIASES.get(_key(raw))
        if name is None:
            raise CsvProblem(
                f"csv: unknown column '{raw.strip()}' (columns: {', '.join(COLUMNS)})", field="csv"
            )
        if name in columns:
            raise CsvProblem(f"csv: column '{name}' appears twice", field="csv")
        columns.append(name)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CsvProblem(f"csv: missing column(s) {', '.join(missing)}", field="csv")
    width = len(columns)
    # Cells are picked from the stripped line padded with "" (index -1: an absent column).
    pick = itemgetter(*(columns.index(c) if c in columns else -1 for c in COLUMNS))
    padding = [""] * (width + 1)
    make = CsvRow._make
    count = 0
    try:
        for line in reader:
            joined = "".join(line)
            if not joined or joined.isspace():
                continue
            if count >= MAX_ROWS:
                raise CsvProblem(f"csv: at most {MAX_ROWS} rows per file", field="csv")
            count += 1
            size = len(line)
            cells = list(map(str.strip, line))
            cells += padding[size:] if size < width else padding[-1:]
            yield make((reader.line_num, *pick(cells), size > width))
    except csv.Error as exc:
        raise CsvProblem(f"csv: line {reader.line_num}: {exc}", field="csv") from None
    if not count:
        raise MissingField("csv: the file has no subscriber rows", field="csv")


def parse_csv(text: str) -> list[CsvRow]:
    """The data rows; raises :class:`CsvProblem` for an unusable header or file."""
    return list(iter_rows(text))


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


class MemoryFacts(service.Facts):
    """Facts for a whole file, loaded with a few queries and updated row by row."""

    def __init__(self, customer: Customer) -> None:
        self.customer = customer
        self.emails: dict[str, list[EmailUser]] = {}
        self.by_id: dict[uuid.UUID, Location] = {}
        self.by_name: dict[str, Location] = {}
        self.hq: Location | None = None
        self.numbers: dict[str, NumberFact] = {}
        self.extensions: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        self.counts: dict[str, int] = {}
        self.parsed: dict[str, str | None] = {}
        self.same: dict[Any, Any] = {}  # one object for equal values read from the database
        # What this file's rows took: email → (user, roles, status, package) per row,
        # number → (location, user).
        self.claimed_emails: dict[str, list[tuple[uuid.UUID, tuple[str, ...], str, str]]] = {}
        self.claimed_numbers: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}

    @classmethod
    async def load(
        cls, repo: SubscriberRepository, customer: Customer, rows: Iterable[Row]
    ) -> MemoryFacts:
        """Facts for a few rows given as values (the portal's "Add users" form)."""
        self = cls(customer)
        rows = list(rows)
        await self.load_locations(repo)
        emails: set[str] = set()
        pairs: set[tuple[uuid.UUID, str]] = set()
        for r in rows:
            raw_email = (r.values.get("email") or "").strip()
            if raw_email:
                emails.add(raw_email.lower())
                normalized = normalize_email(raw_email)
                if normalized is not None:
                    emails.add(normalized.lower())
            raw = (r.values.get("phone_number") or "").strip()
            if raw and raw not in self.parsed:
                self.parsed[raw] = phones.parse_e164(raw)
            ext = (r.values.get("extension") or "").strip()
            ref = (r.values.get("location") or "").strip()
            target = self.resolve(ref) if ref else self.hq
            if ext and target is not None:
                pairs.add((target.id, ext))
        numbers = {e164 for e164 in self.parsed.values() if e164}
        await self.load_more(repo, emails, numbers, pairs)
        await self.load_counts(repo)
        return self

    async def load_locations(self, repo: SubscriberRepository) -> None:
        from partnerhub.locations.service import headquarters_of

        await headquarters_of(repo.session, self.customer)
        for loc in await repo.locations_of(self.customer.id):
            self.by_id[loc.id] = loc
            self.same[loc.id] = loc.id
            self.by_name.setdefault(loc.name.lower(), loc)
            if loc.headquarters:
                self.hq = loc

    async def lock_limited(self, repo: SubscriberRepository) -> None:
        """Lock every package of the customer that has a limit (a file may use any)."""
        params = self.customer.provisioning_parameters or {}
        for package in sorted((params.get("packages") or {}).get("limits") or {}):
            if service.package_limit(self.customer, package) is not None:
                await repo.lock_package(self.customer.id, package)

    async def load_counts(self, repo: SubscriberRepository) -> None:
        self.counts = await repo.package_counts(self.customer.id)

    async def load_more(
        self,
        repo: SubscriberRepository,
        emails: set[str],
        numbers: set[str],
        pairs: set[tuple[uuid.UUID, str]],
    ) -> None:
        """The users holding ``emails``, the inventory facts of ``numbers`` and the owners of
        the ``(location, extension)`` pairs. A key already known (found, or claimed by a row)
        is not looked up again, so what rows have claimed stays; asking again for one found
        nowhere changes nothing. Keys that cannot pass their rule are not looked up."""
        addresses = sorted(
            e
            for e in emails
            if e not in self.emails and e not in self.claimed_emails and "\n" not in e
        )
        for user in await repo.import_email_users(addresses, self.same):
            self.emails.setdefault(user.email, []).append(user)
        wanted = sorted(n for n in numbers if n not in self.numbers)
        for fact in await repo.import_number_facts(self.customer.id, wanted, self.same):
            self.numbers[fact.phone_number] = fact
        valid = [
            p for p in pairs if p not in self.extensions and service.EXTENSION_RE.fullmatch(p[1])
        ]
        self.extensions.update(await repo.import_extension_owners(valid, self.same))

    def resolve(self, ref: str) -> Location | None:
        location_id = ids.decode("LOCATION", ref)
        if location_id is not None and location_id in self.by_id:
            return self.by_id[location_id]
        return self.by_name.get(ref.strip().lower())

    def mine(self, email: str) -> uuid.UUID | None:
        """The user of this customer with ``email``: already there, or a new row of this
        file."""
        for user in self.emails.get(email, ()):
            if user.customer_id == self.customer.id:
                return user.id
        claims = self.claimed_emails.get(email)
        return claims[0][0] if claims else None

    async def email_users(self, email: str) -> list[EmailUser]:
        found = self.emails.get(email, [])
        claims = self.claimed_emails.get(email)
        if not claims:
            return found
        customer = self.customer
        return found + [
            EmailUser(user_id, email, customer.partner_id, customer.id, roles, status, package)
            for user_id, roles, status, package in claims
        ]

    async def location(self, ref: str) -> Location | None:
        return self.resolve(ref)

    async def location_by_id(self, location_id: uuid.UUID) -> Location | None:
        return self.by_id.get(location_id)

    async def headquarters(self) -> Location | None:
        return self.hq

    async def number(self, e164: str) -> NumberFact | None:
        claimed = self.claimed_numbers.get(e164)
        if claimed is not None:
            return NumberFact(e164, claimed[0], False, claimed[1])
        return self.numbers.get(e164)

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        return self.extensions.get((location_id, extension))

    async def package_count(self, package: str) -> int:
        return self.counts.get(package, 0)

    def parse_number(self, raw: str) -> str | None:
        if raw in self.parsed:
            return self.parsed[raw]
        return super().parse_number(raw)

    def claim(self, user_id: uuid.UUID, plan: service.Plan) -> None:
        """Record a planned row, so that later rows see it as a request would: its email
        taken (a user of this customer), its number owned, its extension used, its package
        counted."""
        claim = (user_id, tuple(plan.roles), plan.status, plan.package)
        self.claimed_emails.setdefault(plan.email, []).append(claim)
        if plan.phone_number and plan.location_id:
            self.claimed_numbers[plan.phone_number] = (plan.location_id, user_id)
        if plan.extension and plan.location_id:
            self.extensions[(plan.location_id, plan.extension)] = user_id
        self.counts[plan.package] = self.counts.get(plan.package, 0) + 1


def _problem(row: CsvRow, exc: ApiError) -> list[RowError]:
    problems = getattr(exc, "problems", None) or [exc]
    out = []
    for p in problems:
        column = _COLUMN_OF.get(p.field or "", p.field or "")
        out.append(RowError(row.number, column, p.description, p.code))
    return out


# --- COPY text format ------------------------------------------------------------------------

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


def _text(value: str | None) -> str:
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
                _text(plan.email),
                "\t",
                _text(plan.first_name),
                "\t",
                _text(plan.last_name),
                "\t",
                _array(plan.roles) if plan.roles else "{}",
                "\t",
                _text(plan.package),
                "\t",
                "\\N" if location is None else str(location),
                "\t",
                _text(plan.phone_number),
                "\t",
                _text(plan.extension),
                "\t",
                _text(plan.status),
                self.tail,
            )
        )


def _id_encoder(kind: str, region: str) -> Callable[[str], str]:
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


async def _raw_connection(repo: SubscriberRepository) -> psycopg.AsyncConnection[Any]:
    connection = await repo.session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    return raw


def _constraint_error(exc: psycopg.errors.IntegrityError) -> ApiError | None:
    return service.constraint_problem(getattr(exc.diag, "constraint_name", None) or "")


# --- checking and importing ------------------------------------------------------------------

Stage = Callable[[str, int, int | None], Awaitable[None]]
"""``(stage, rows, total or None)``: ``read`` (rows read so far; the total once the whole
file is read) and ``check`` (rows checked, and written when importing)."""


class _Sink:
    """What happens to each row's outcome once its rules are checked."""

    def new(self, number: int, plan: service.Plan) -> None:
        pass

    def existing(self, number: int, user_id: uuid.UUID, email: str) -> None:
        pass

    def fail(self) -> None:
        pass

    async def flush(self) -> None:
        pass


class _Keep(_Sink):
    def __init__(self, report: Report) -> None:
        self.report = report

    def new(self, number: int, plan: service.Plan) -> None:
        self.report.plans.append((number, plan))


class _Import(_Sink):
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
        self.ref = _id_encoder("SUBSCRIBER", (customer.data_region or "us").lower())
        self.pending: list[str] = []
        self.result = io.StringIO()
        self.out = csv.writer(self.result)
        self.out.writerow(["row", "email", "result", "subscriber_id", "phone_number", "extension"])
        self.stopped = False

    def new(self, number: int, plan: service.Plan) -> None:
        if self.stopped:
            return
        user_id = str(plan.user_id)
        self.pending.append(self.lines.line(plan, user_id))
        result = "pending_user_migration" if plan.status == PENDING else "created"
        self.out.writerow(
            (
                number,
                plan.email,
                result,
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


_PARSER = (
    "import json, sys\n"
    "from partnerhub.catalog.phones import parse_e164_many\n"
    "for line in sys.stdin:\n"
    "    sys.stdout.write(json.dumps(parse_e164_many(json.loads(line))) + '\\n')\n"
    "    sys.stdout.flush()\n"
)


class _Parser:
    """A helper process (``python -c _PARSER``) answering one JSON line of parsed numbers
    for each JSON line of raw numbers, one batch at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lock = asyncio.Lock()

    @classmethod
    async def launch(cls) -> _Parser:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PARSER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 24,
        )
        return cls(process)

    async def parse(self, batch: list[str]) -> list[str | None]:
        async with self.lock:
            stdin, stdout = self.process.stdin, self.process.stdout
            assert stdin is not None and stdout is not None
            stdin.write(json.dumps(batch).encode() + b"\n")
            await stdin.drain()
            answer = json.loads(await stdout.readline())
        if not isinstance(answer, list) or len(answer) != len(batch):
            raise OSError("the number parser answered badly")
        return answer

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class _Phones:
    """Parses the file's phone numbers once each, into ``parsed``, a batch per chunk of rows:
    here, or, for a large file (``helpers``), in helper processes (plain subprocesses running
    the same :func:`~partnerhub.catalog.phones.parse_e164_many`; nothing of this process is
    copied or re-imported), so that parsing (about 80 µs a number, the largest cost of a big
    file) runs beside the checking. A helper that cannot start or fails only means parsing
    here."""

    def __init__(self, parsed: dict[str, str | None], helpers: int) -> None:
        self.parsed = parsed
        self.helpers = helpers
        self.workers: list[asyncio.Task[_Parser]] = []
        self.turn = 0

    async def batch(self, raws: list[str]) -> None:
        """Parse those of ``raws`` not parsed (or being parsed) yet. A number first seen in
        an earlier chunk is that chunk's: its facts are loaded before this chunk's."""
        new = [raw for raw in dict.fromkeys(raws) if raw not in self.parsed]
        for raw in new:
            self.parsed[raw] = None
        if not new:
            return
        results: list[str | None] | None = None
        if self.helpers:
            if not self.workers:
                self.workers = [asyncio.create_task(_Parser.launch()) for _ in range(self.helpers)]
            worker = self.workers[self.turn % len(self.workers)]
            self.turn += 1
            try:
                results = await (await worker).parse(new)
            except (OSError, ValueError, EOFError, asyncio.IncompleteReadError) as exc:
                log.warning("parsing numbers here (helper process: %s)", exc)
        if results is None:
            results = []
            for done, raw in enumerate(new, 1):
                results.append(phones.parse_e164(raw))
                if done % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        parsed = self.parsed
        for raw, e164 in zip(new, results, strict=True):
            parsed[raw] = raw if e164 == raw else e164  # one string when already E.164

    async def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(BaseException):
                await (await worker).close()
        self.workers = []


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


async def _check_rows(
    repo: SubscriberRepository,
    facts_repo: SubscriberRepository,
    customer: Customer,
    rows: Iterable[CsvRow],
    principal: Principal,
    report: Report,
    *,
    size: int,
    sink: Callable[[], Awaitable[_Sink]],
    stage: Stage | None,
    lock: bool,
) -> _Sink:
    """Read, check and hand each row to the sink, in one pass over the file.

    The file is read in chunks of ``CHUNK_ROWS``, ``AHEAD`` chunks ahead of the checking:
    each chunk's numbers are parsed and its facts loaded (through ``facts_repo``) in the
    background while earlier chunks are checked; every rule runs for every row, in file
    order, against the facts (updated row by row). ``sink()`` is called once the customer's
    own facts are loaded (importing, it opens the ``COPY`` on ``repo``'s connection, so
    ``facts_repo`` must then be another one). ``lock``: the customer's limited packages are
    locked first, as a request locks its package."""
    facts = MemoryFacts(customer)
    numbers = _Phones(facts.parsed, PARSE_WORKERS if size >= PARALLEL_MIN else 0)
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

    async def sink() -> _Sink:
        return _Keep(report) if keep_plans else _Sink()

    with _gc_paused(size):
        await _check_rows(
            repo, repo, customer, source, principal, report,
            size=size, sink=sink, stage=None, lock=False,
        )  # fmt: skip
    return report


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

        async def sink() -> _Sink:
            return importing

        try:
            with _gc_paused(size):
                await _check_rows(
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


_gc_pauses = 0
PAUSE_GC_MIN = 5000  # rows (lines) from which a file is checked without cyclic collection


@contextlib.contextmanager
def _gc_paused(rows: int) -> Iterator[None]:
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


class _RowsFailed(Exception):
    pass


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
    ``dry_run`` nothing is written and the import is None. Used by the API and the portal."""
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
    return report, record


Progress = Callable[[int], Awaitable[None]]


async def write(
    repo: SubscriberRepository,
    customer: Customer,
    report: Report,
    progress: Progress | None = None,
) -> int:
    """Insert the report's new subscribers (from :func:`check`) with ``COPY`` in batches
    (inside the caller's transaction); returns how many were written. A constraint the
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


def result_csv(customer: Customer, report: Report) -> str:
    """The downloadable result of a :func:`check` report: one line per subscriber row of
    the file, in file order (:func:`run` writes the same while importing)."""
    region = (customer.data_region or "us").lower()
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["row", "email", "result", "subscriber_id", "phone_number", "extension"])
    lines: list[tuple[int, list[str]]] = []
    for number, plan in report.plans:
        result = "pending_user_migration" if plan.status == PENDING else "created"
        lines.append(
            (
                number,
                [
                    str(number),
                    plan.email,
                    result,
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
