"""The streaming bulk import (subscribers.imports): reading, number parsing in helper
processes, COPY text lines, and run() (check while inserting) answering as check() does."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import logging
import random
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from partnerhub import ids
from partnerhub.catalog import packages, phones
from partnerhub.db import Database
from partnerhub.errors import ApiError
from partnerhub.locations.service import system_principal
from partnerhub.models import OrgUser
from partnerhub.subscribers import imports
from partnerhub.subscribers.imports import checking, phone_numbers, reporting, writing
from partnerhub.subscribers.repository import SubscriberRepository
from tests.conftest import bearer
from tests.factories import NUM_WRITE, SUB_WRITE, Setup, Tenant, add_numbers


def test_rows_are_read_cell_by_cell() -> None:
    text = (
        "\ufeffEmail, Package ,First name,Phone\n"
        " a@x.example ,webex_meetings, Ada \n"
        "\n"
        " , ,\n"
        'b@x.example,webex_calling,"Bo\nBo",+14155550100\n'
        "c@x.example\n"
        "d@x.example,webex_meetings,D,,extra\n"
    )
    rows = imports.parse_csv(text)
    assert [
        (r.number, r.email, r.package, r.first_name, r.phone_number, r.extra) for r in rows
    ] == [
        (2, "a@x.example", "webex_meetings", "Ada", "", False),
        (6, "b@x.example", "webex_calling", "Bo\nBo", "+14155550100", False),
        (7, "c@x.example", "", "", "", False),
        (8, "d@x.example", "webex_meetings", "D", "", True),
    ]
    assert all(r.last_name == r.location == r.extension == r.admin_role == "" for r in rows)
    with pytest.raises(imports.CsvProblem, match="unknown column 'colour'"):
        imports.parse_csv("email,colour\nx@y.example,red\n")


def test_subscriber_ids_are_encoded_like_ids_encode() -> None:
    for region in ("us", "eu"):
        encode = reporting.id_encoder("SUBSCRIBER", region)
        for _ in range(50):
            value = uuid.uuid4()
            assert encode(str(value)) == ids.encode("SUBSCRIBER", value, region)


RAW_NUMBERS = [
    "+14155550100",
    "+1 (415) 555-0101",
    "+390212345678",
    "+44 20 7946 0958",
    "+1415555",
    "garbage",
    "+1415555\n0102",
    "+999123456789",
    "+4407911123456",
]


async def parse_all(raws: list[str], helpers: int) -> dict[str, str | None]:
    parsed: dict[str, str | None] = {}
    numbers = phone_numbers.Phones(parsed, helpers)
    try:
        await asyncio.gather(*(numbers.batch(raws[i : i + 3]) for i in range(0, len(raws), 3)))
        await numbers.batch(raws)  # all seen: nothing more to parse
    finally:
        await numbers.close()
    return parsed


async def test_helper_processes_parse_as_here() -> None:
    raws = RAW_NUMBERS + [f"+1415555{i:04d}" for i in range(200, 230)]
    parsed = await parse_all(raws, helpers=2)
    assert parsed == {raw: phones.parse_e164(raw) for raw in raws}
    assert parsed["+1 (415) 555-0101"] == "+14155550101" and parsed["garbage"] is None


async def test_a_failing_helper_means_parsing_here(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(phone_numbers, "PARSER", "import sys\nsys.exit(3)\n")
    with caplog.at_level(logging.WARNING, logger="partnerhub.subscribers.imports.phone_numbers"):
        parsed = await parse_all(RAW_NUMBERS, helpers=1)
    assert parsed == {raw: phones.parse_e164(raw) for raw in RAW_NUMBERS}
    assert "parsing numbers here" in caplog.text


def test_collection_pause_nests_and_always_resumes() -> None:
    assert gc.isenabled()
    with checking.gc_paused(10):  # a small file: nothing paused
        assert gc.isenabled()
    with checking.gc_paused(checking.PAUSE_GC_MIN):
        assert not gc.isenabled()
        with checking.gc_paused(checking.PAUSE_GC_MIN):
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer import still runs
    assert gc.isenabled()
    with pytest.raises(RuntimeError), checking.gc_paused(checking.PAUSE_GC_MIN):
        raise RuntimeError
    assert gc.isenabled()


async def count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count(OrgUser.id)))).scalar_one())


def render(rows: list[list[str]]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["first_name", "last_name", "email", "package", "phone_number", "extension", "role"])
    w.writerows(rows)
    return out.getvalue()


async def test_run_inserts_exactly_what_it_checked(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    await add_numbers(client, await tenant.token(NUM_WRITE), setup.hq_id, ["+14155550300..0309"])
    top = packages.highest_tier(setup.customer.packages or [])
    assert top is not None
    rows = [
        ["Tab\there", "Back\\slash", "one@imp.example", "webex_calling", "+1 415 555 0300", "31"],
        ["Line\nbreak", 'Quote "q"', "Two@Imp.Example", "webex_meetings", "", ""],
        ["Zoë", "", "three@imp.example", top, "", "33", "full_admin"],
        ["", "", "four@imp.example", "webex_calling", "", "4444"],
    ]
    text = render(rows)
    principal = system_principal(tenant.partner.id)
    async with db.transaction() as session:
        repo = SubscriberRepository(session, principal)
        checked = await imports.check(repo, setup.customer, text, principal)
    assert not checked.errors and checked.new_count == 4
    async with db.transaction() as session, db.transaction() as side:
        repo = SubscriberRepository(session, principal)
        report, result = await imports.run(
            repo, SubscriberRepository(side, principal), setup.customer, text, principal
        )
    assert not report.errors and report.new_count == 4 and result is not None
    lines = list(csv.DictReader(io.StringIO(result)))
    # "row" is the file's line (a cell with a line break takes two), as before.
    assert [(r["row"], r["email"], r["result"]) for r in lines] == [
        ("2", "one@imp.example", "created"),
        ("4", "two@imp.example", "created"),
        ("5", "three@imp.example", "created"),
        ("6", "four@imp.example", "created"),
    ]
    async with db.transaction() as session:
        users = {
            u.email: u
            for u in (
                await session.execute(
                    select(OrgUser).where(OrgUser.customer_id == setup.customer.id)
                )
            ).scalars()
        }
    one, two, three, four = (users[f"{n}@imp.example"] for n in ("one", "two", "three", "four"))
    assert (one.first_name, one.last_name, one.phone_number, one.extension) == (
        "Tab\there",
        "Back\\slash",
        "+14155550300",
        "31",
    )
    assert one.location_id == setup.hq.id if setup.hq else False
    assert (two.first_name, two.last_name, two.location_id, two.phone_number) == (
        "Line\nbreak",
        'Quote "q"',
        None,
        None,
    )
    assert (three.first_name, three.last_name, three.roles, three.package) == (
        "Zoë",
        None,
        ["full_admin"],
        top,
    )
    assert (four.extension, four.phone_number, four.status) == ("4444", None, "provisioned")
    assert one.created == four.created and one.last_status_change == one.created
    for line in lines:
        assert ids.decode("SUBSCRIBER", line["subscriber_id"]) == users[line["email"]].id
    sub = await client.get(
        f"/v1/wholesale/subscribers/{lines[0]['subscriber_id']}",
        headers=bearer(await tenant.token("spark-admin:wholesale_subscribers_read")),
    )
    assert sub.status_code == 200 and sub.json()["primaryPhoneNumber"] == "+14155550300"

    async with db.transaction() as session, db.transaction() as side:  # again: nothing new
        repo = SubscriberRepository(session, principal)
        again, result = await imports.run(
            repo, SubscriberRepository(side, principal), setup.customer, text, principal
        )
    assert (again.new_count, len(again.existing), again.errors) == (0, 4, [])
    assert result is not None and result.count(",existing,") == 4
    assert await count(db) == 4


def mixed_file(size: int, bad: dict[int, list[str]]) -> str:
    rows = [["U", str(i), f"u{i}@mix.example", "webex_meetings", "", ""] for i in range(size)]
    for index, row in bad.items():
        rows[index] = row
    return render(rows)


async def test_run_reports_as_check_and_writes_nothing_on_errors(
    db: Database, tenant: Tenant, setup: Setup
) -> None:
    bad = {
        3: ["U", "3", "not-an-email", "webex_meetings", "", ""],
        700: ["U", "700", "u1@mix.example", "webex_meetings", "", ""],  # row 3's twin: existing
        1100: ["U", "1100", "x@mix.example", "webex_calling", "+14155559999", ""],
        1101: ["U", "1101", "y@mix.example", "webex_meetings", "", "12"],
        1199: ["U", "1199", "z@mix.example", "webex_voice", "", ""],
    }
    text = mixed_file(1200, bad)
    principal = system_principal(tenant.partner.id)
    async with db.transaction() as session:
        repo = SubscriberRepository(session, principal)
        checked = await imports.check(repo, setup.customer, text, principal)
    failed: tuple[imports.Report, str | None] | None = None
    with pytest.raises(_Rollback):
        async with db.transaction() as session, db.transaction() as side:
            repo = SubscriberRepository(session, principal)
            failed = await imports.run(
                repo, SubscriberRepository(side, principal), setup.customer, text, principal
            )
            raise _Rollback  # as the job does: the aborted COPY's transaction is rolled back
    assert failed is not None
    report, result = failed
    assert result is None
    assert [(e.row, e.column, e.code) for e in report.errors] == [
        (e.row, e.column, e.code) for e in checked.errors
    ]
    assert [e.row for e in report.errors] == [5, 1102, 1103, 1201]
    assert [r for r, _, _ in report.existing] == [r for r, _, _ in checked.existing] == [702]
    assert await count(db) == 0


class _Rollback(Exception):
    pass


async def test_a_number_taken_while_importing_fails_the_import(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, setup: Setup
) -> None:
    """Facts were loaded, the insert is streaming, and a request takes the number of a later
    row: the database refuses the row, the import answers 1013 and writes nothing."""
    await add_numbers(client, await tenant.token(NUM_WRITE), setup.hq_id, ["+14155550400..0401"])
    late = imports.BATCH + 600
    text = mixed_file(
        late + 10, {late: ["L", "", "late@mix.example", "webex_calling", "+14155550400", ""]}
    )
    token = await tenant.token(SUB_WRITE)
    taken: list[int] = []

    async def stage(name: str, done: int, total: int | None) -> None:
        if name == "check" and done == imports.BATCH:
            answer = await client.post(
                "/v1/wholesale/subscribers",
                json={
                    "customerId": setup.id,
                    "email": "first@mix.example",
                    "packages": ["webex_calling"],
                    "provisioningParameters": {"primaryPhoneNumber": "+14155550400"},
                },
                headers=bearer(token),
            )
            taken.append(answer.status_code)

    principal = system_principal(tenant.partner.id)
    with pytest.raises(ApiError) as caught:
        async with db.transaction() as session, db.transaction() as side:
            repo = SubscriberRepository(session, principal)
            await imports.run(
                repo, SubscriberRepository(side, principal), setup.customer, text, principal, stage
            )
    assert taken == [200]
    assert caught.value.code == 1013
    assert await count(db) == 1


def test_copy_lines_escape_text() -> None:
    rng = random.Random(3)
    alphabet = "ab\t\n\r\\\"',{}é "
    for _ in range(200):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        escaped = writing.copy_text(value)
        assert "\t" not in escaped and "\n" not in escaped and "\r" not in escaped
        unescaped = (
            escaped.replace("\\\\", "\0")
            .replace("\\t", "\t")
            .replace("\\n", "\n")
            .replace("\\r", "\r")
        ).replace("\0", "\\")
        assert unescaped == value
    assert writing.copy_text(None) == "\\N"


async def test_rows_of_later_chunks_see_earlier_claims(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks of two rows (facts loaded chunk by chunk, ahead of the checking): a number, an
    extension and an email claimed by an earlier chunk are taken for the later ones, in
    run() as in check()."""
    monkeypatch.setattr(checking, "CHUNK_ROWS", 2)
    monkeypatch.setattr(checking, "AHEAD", 2)
    await add_numbers(client, await tenant.token(NUM_WRITE), setup.hq_id, ["+14155550500..0503"])
    rows = [
        ["A", "", "a@chunk.example", "webex_calling", "+14155550500", "50"],
        ["B", "", "b@chunk.example", "webex_meetings", "", ""],
        ["C", "", "c@chunk.example", "webex_calling", "+14155550500", ""],  # number of row 2
        ["D", "", "d@chunk.example", "webex_calling", "", "50"],  # extension of row 2
        ["E", "", "A@Chunk.Example", "webex_meetings", "", ""],  # row 2 again: existing
        ["F", "", "f@chunk.example", "webex_calling", "+14155550501", "51"],
        ["G", "", "g@chunk.example", "webex_calling", "+14155550501", "52"],  # row 7's number
    ]
    text = render(rows)
    principal = system_principal(tenant.partner.id)
    async with db.transaction() as session:
        checked = await imports.check(
            SubscriberRepository(session, principal), setup.customer, text, principal
        )
    expected = [(4, "phone_number", 1013), (5, "extension", 1210), (8, "phone_number", 1013)]
    assert [(e.row, e.column, e.code) for e in checked.errors] == expected
    assert [r for r, _, _ in checked.existing] == [6]
    with pytest.raises(_Rollback):
        async with db.transaction() as session, db.transaction() as side:
            repo = SubscriberRepository(session, principal)
            report, result = await imports.run(
                repo, SubscriberRepository(side, principal), setup.customer, text, principal
            )
            raise _Rollback
    assert [(e.row, e.column, e.code) for e in report.errors] == expected
    assert result is None and await count(db) == 0
    fixed = render([r for i, r in enumerate(rows) if i not in (2, 3, 6)])
    async with db.transaction() as session, db.transaction() as side:
        repo = SubscriberRepository(session, principal)
        report, result = await imports.run(
            repo, SubscriberRepository(side, principal), setup.customer, fixed, principal
        )
    assert (report.errors, report.new_count, len(report.existing)) == ([], 3, 1)
    assert await count(db) == 3
