"""``partnerhub import subscribers FILE --customer ID [--dry-run]``: bulk onboarding from CSV.

The same checks and the same import job as ``POST /v1/partner/customers/{id}/imports``
(:mod:`partnerhub.subscribers.imports`, :func:`partnerhub.subscribers.tasks.perform`), run in
this process with a Rich progress bar. Exit status: 0 imported (or, with ``--dry-run``,
every row passes), 1 some row failed (nothing imported), 2 unusable arguments or file.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from partnerhub.errors import InvalidValue, NotFound

import_app = typer.Typer(help="Bulk imports.", no_args_is_help=True)
console = Console(stderr=True)


async def _find_customer(session: object, ref: str) -> object:
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession

    from partnerhub import ids
    from partnerhub.models import Customer

    assert isinstance(session, AsyncSession)
    customer_id = ids.decode("CUSTOMER", ref)
    if customer_id is None:
        try:
            customer_id = uuid.UUID(ref)
        except ValueError:
            customer_id = None
    if customer_id is not None:
        found = await session.get(Customer, customer_id)
        if found is not None:
            return found
    matches = list(
        (await session.execute(select(Customer).where(Customer.external_id == ref))).scalars()
    )
    if len(matches) > 1:
        raise InvalidValue(f"--customer: several customers have externalId '{ref}': give its id")
    if not matches:
        raise NotFound(f"--customer: no customer '{ref}' (give its id or its externalId)")
    return matches[0]


def _print_problems(problems: list[tuple[int, str, str]]) -> None:
    table = Table("row", "column", "problem", title="Rows with problems")
    for row, column, message in problems:
        table.add_row(str(row), escape(column), escape(message))
    console.print(table)
    console.print(
        f"[red]{len(problems)} problem(s): nothing imported.[/red] Fix the rows and run again."
    )


@import_app.command("subscribers")
def import_subscribers(
    file: Annotated[Path, typer.Argument(help="CSV file (columns: see docs/setup.md).")],
    customer: Annotated[
        str,
        typer.Option("--customer", help="The customer's id (as the API shows it) or externalId."),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, import nothing.")
    ] = False,
    result: Annotated[
        Path | None, typer.Option(help="Where to write the result CSV (default: FILE.result.csv).")
    ] = None,
) -> None:
    """Import the subscribers of a CSV file into a customer: every row, or none."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from partnerhub.config import get_settings
    from partnerhub.db import Database
    from partnerhub.errors import ApiError
    from partnerhub.locations.service import system_principal
    from partnerhub.models import Customer, SubscriberImport
    from partnerhub.ops.process import configure_logging, prepare_database
    from partnerhub.subscribers import imports, tasks
    from partnerhub.subscribers.repository import SubscriberRepository

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]Cannot read {file}: {exc}[/red]")
        raise typer.Exit(2) from None
    settings = get_settings()
    configure_logging(settings)
    url = prepare_database(settings)

    async def run() -> int:
        db = Database(url, 4, settings.database_prepared_statements)
        try:
            async with db.transaction() as session:
                found = await _find_customer(session, customer)
                assert isinstance(found, Customer)
                if dry_run:
                    repo = SubscriberRepository(session, system_principal(found.partner_id))
                    with console.status("Checking the rows..."):
                        report = await imports.check(
                            repo, found, text, repo.principal, keep_plans=False
                        )
            if dry_run:
                if report.errors:
                    _print_problems([(e.row, e.column, e.message) for e in report.errors])
                    return 1
                console.print(
                    f"[green]Every row passes.[/green] {report.total} rows: "
                    f"{report.new_count} to create, {len(report.existing)} already there."
                )
                return 0
            next(imports.iter_rows(text))  # a header or an empty file the job would refuse
            record = SubscriberImport(
                id=uuid.uuid4(),
                partner_id=found.partner_id,
                customer_id=found.id,
                created_by="cli",
                status="queued",
                total=0,  # the job counts the rows
                source=text,
                errors=[],
            )
            async with db.transaction() as session:
                session.add(record)
            columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
            with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
                bar = progress.add_task("Reading the rows", total=None)

                def advance(stage: str, done: int, total: int | None) -> None:
                    if stage == "read":
                        progress.update(bar, completed=done, total=total)
                    else:
                        progress.update(bar, description="Checking and importing", completed=done)

                final = await tasks.perform(db, record.id, advance)
                if final is not None and final.status == "succeeded":
                    progress.update(bar, completed=final.total, total=final.total)
            if final is None or final.status != "succeeded":
                problems = [
                    (int(f.get("row", 0)), str(f.get("column", "")), str(f.get("message", "")))
                    for f in ((final.errors if final else None) or [])
                ]
                if problems and all(row == 0 for row, _, _ in problems):
                    # The file itself (header, size) or the customer: no row to fix.
                    console.print(f"[red]{escape(problems[0][2])}[/red]")
                    return 2
                _print_problems(problems)
                return 1
            target = result or file.with_name(file.name + ".result.csv")
            target.write_text(final.result or "", encoding="utf-8")
            console.print(
                f"[green]Imported.[/green] {final.created_count} created, "
                f"{final.existing_count} already there. Result: {target}"
            )
            return 0
        except ApiError as exc:
            console.print(f"[red]{escape(exc.description)}[/red]")
            return 2
        finally:
            await db.dispose()

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)
