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
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import psycopg

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.errors import ApiError, InvalidValue, MissingField
from partnerhub.kit.scope import Principal
from partnerhub.models import Customer, Location, SubscriberImport
from partnerhub.models.base import utcnow
from partnerhub.subscribers import service
from partnerhub.subscribers.repository import (
    PENDING,
    EmailUser,
    NumberFact,
    SubscriberRepository,
)

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
BATCH = 2000
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
    number: int  # line number as a spreadsheet shows it (header = 1)
    values: dict[str, str]


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
    total: int = 0
    plans: list[tuple[int, service.Plan]] = field(default_factory=list)
    existing: list[tuple[int, uuid.UUID, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class CsvProblem(InvalidValue):
    """The file itself is unusable (header, size, encoding)."""


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().lower())


def parse_csv(text: str) -> list[Row]:
    """The data rows; raises :class:`CsvProblem` for an unusable header or file."""
    text = text.lstrip("\ufeff")
    if not text.strip():
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
    rows: list[Row] = []
    try:
        for line in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in line):
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvProblem(f"csv: at most {MAX_ROWS} rows per file", field="csv")
            values = {c: (line[i].strip() if i < len(line) else "") for i, c in enumerate(columns)}
            if len(line) > len(columns):
                values["__extra__"] = "1"
            rows.append(Row(number, values))
    except csv.Error as exc:
        raise CsvProblem(f"csv: line {reader.line_num}: {exc}", field="csv") from None
    if not rows:
        raise MissingField("csv: the file has no subscriber rows", field="csv")
    return rows


def _input(customer_ref: str, row: Row) -> service.SubscriberInput:
    v = row.values
    given = frozenset(k for k in ("phone_number", "extension", "location") if v.get(k))
    role = v.get("admin_role") or ""
    return service.SubscriberInput(
        customer=customer_ref,
        email=v.get("email"),
        packages=[v.get("package") or ""],
        first_name=v.get("first_name") or None,
        last_name=v.get("last_name") or None,
        phone_number=v.get("phone_number") or None,
        extension=v.get("extension") or None,
        location=v.get("location") or None,
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

    @classmethod
    async def load(
        cls, repo: SubscriberRepository, customer: Customer, rows: Iterable[Row]
    ) -> MemoryFacts:
        self = cls(customer)
        rows = list(rows)
        from partnerhub.locations.service import headquarters_of

        await headquarters_of(repo.session, customer)
        for loc in await repo.locations_of(customer.id):
            self.by_id[loc.id] = loc
            self.by_name.setdefault(loc.name.lower(), loc)
            if loc.headquarters:
                self.hq = loc
        emails = {r.values.get("email", "").strip().lower() for r in rows} - {""}
        for user in await repo.users_with_email(emails):
            self.emails.setdefault(user.email, []).append(user)
        for r in rows:
            raw = (r.values.get("phone_number") or "").strip()
            if raw and raw not in self.parsed:
                self.parsed[raw] = phones.parse_e164(raw)
        wanted = {e164 for e164 in self.parsed.values() if e164}
        for fact in await repo.number_facts(customer.id, sorted(wanted)):
            self.numbers[fact.phone_number] = fact
        pairs: set[tuple[uuid.UUID, str]] = set()
        for r in rows:
            ext = (r.values.get("extension") or "").strip()
            if not ext:
                continue
            ref = (r.values.get("location") or "").strip()
            target = self._resolve(ref) if ref else self.hq
            if target is not None:
                pairs.add((target.id, ext))
        self.extensions = await repo.extension_owners(sorted(pairs, key=str))
        self.counts = await repo.package_counts(customer.id)
        return self

    def _resolve(self, ref: str) -> Location | None:
        location_id = ids.decode("LOCATION", ref)
        if location_id is not None and location_id in self.by_id:
            return self.by_id[location_id]
        return self.by_name.get(ref.strip().lower())

    async def email_users(self, email: str) -> list[EmailUser]:
        return self.emails.get(email, [])

    async def location(self, ref: str) -> Location | None:
        return self._resolve(ref)

    async def location_by_id(self, location_id: uuid.UUID) -> Location | None:
        return self.by_id.get(location_id)

    async def headquarters(self) -> Location | None:
        return self.hq

    async def number(self, e164: str) -> NumberFact | None:
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
        """Record a planned row, so that later rows see it as a request would."""
        self.emails.setdefault(plan.email, []).append(
            EmailUser(
                user_id,
                plan.email,
                self.customer.partner_id,
                self.customer.id,
                tuple(plan.roles),
                plan.status,
                plan.package,
            )
        )
        if plan.phone_number and plan.location_id:
            self.numbers[plan.phone_number] = NumberFact(
                plan.phone_number, plan.location_id, False, user_id
            )
        if plan.extension and plan.location_id:
            self.extensions[(plan.location_id, plan.extension)] = user_id
        self.counts[plan.package] = self.counts.get(plan.package, 0) + 1


def _problem(row: Row, exc: ApiError) -> list[RowError]:
    problems = getattr(exc, "problems", None) or [exc]
    out = []
    for p in problems:
        column = _COLUMN_OF.get(p.field or "", p.field or "")
        out.append(RowError(row.number, column, p.description, p.code))
    return out


async def check(
    repo: SubscriberRepository, customer: Customer, rows: list[Row], principal: Principal
) -> Report:
    """Check every row (nothing is written); existing users of the customer are reported."""
    service.check_customer(customer)
    facts = await MemoryFacts.load(repo, customer, rows)
    customer_ref = ids.encode("CUSTOMER", customer.id)
    report = Report(total=len(rows))
    for row in rows:
        if "__extra__" in row.values:
            report.errors.append(
                RowError(row.number, "", f"more values than the {len(COLUMNS)} columns", 1003)
            )
            continue
        inp = _input(customer_ref, row)
        try:
            email = service.check_email(inp.email)
            mine = [u for u in facts.emails.get(email, []) if u.customer_id == customer.id]
            if mine:
                report.existing.append((row.number, mine[0].id, email))
                continue
            plan = await service.plan_new(facts, inp, principal)
        except ApiError as exc:
            report.errors.extend(_problem(row, exc))
            continue
        facts.claim(plan.user_id, plan)
        report.plans.append((row.number, plan))
    return report


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
    rows = parse_csv(text)
    report = await check(repo, customer, rows, principal)
    if report.errors or dry_run:
        return report, None
    record = SubscriberImport(
        partner_id=customer.partner_id,
        customer_id=customer.id,
        created_by=principal.actor_email,
        status="queued",
        total=report.total,
        processed=0,
        created_count=len(report.plans),
        existing_count=len(report.existing),
        source=text,
        errors=[],
    )
    repo.session.add(record)
    await repo.session.flush()
    return report, record


Progress = Callable[[int], Awaitable[None]]


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


async def write(
    repo: SubscriberRepository,
    customer: Customer,
    report: Report,
    progress: Progress | None = None,
) -> int:
    """Insert the report's new subscribers with ``COPY`` in batches (inside the caller's
    transaction); returns how many were written. A constraint the database enforces (a
    concurrent request took a number meanwhile) gives the same clean error as a request."""
    now = utcnow()
    assert customer.org_id is not None
    connection = await repo.session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    statement = f"COPY org_users ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    written = 0
    try:
        async with raw.cursor() as cursor:
            for start in range(0, len(report.plans), BATCH):
                batch = report.plans[start : start + BATCH]
                async with cursor.copy(statement) as copy:
                    for _, plan in batch:
                        await copy.write_row(
                            (
                                plan.user_id,
                                customer.partner_id,
                                customer.id,
                                customer.org_id,
                                plan.email,
                                plan.first_name,
                                plan.last_name,
                                plan.roles,
                                plan.package,
                                plan.location_id,
                                plan.phone_number,
                                plan.extension,
                                plan.status,
                                now,
                                now,
                            )
                        )
                written += len(batch)
                if progress is not None:
                    await progress(written)
    except psycopg.errors.IntegrityError as exc:
        name = getattr(exc.diag, "constraint_name", None) or ""
        problem = service.constraint_problem(name)
        if problem is None:
            raise
        raise problem from None
    return written


def result_csv(customer: Customer, report: Report) -> str:
    """The downloadable result: one line per subscriber row of the file, in file order."""
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
