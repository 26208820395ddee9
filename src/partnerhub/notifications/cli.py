"""``partnerhub outbox list`` and ``partnerhub outbox show ID``: the outbox, on the machine.

The portal's outbox shows every email with its secrets hidden (the single-use links belong to
their recipient alone, docs/security.md "Secrets"). An operator who runs without SMTP hands the
links over themselves: these commands read the database directly, so only someone with access to
the server (its settings and database) sees an email's full text.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

outbox_app = typer.Typer(
    help="The outbox of emails (full text, on the machine only).", no_args_is_help=True
)
console = Console(stderr=True)


def _database_url() -> str:
    from partnerhub.config import get_settings
    from partnerhub.db import database_url, upgrade

    url = database_url(get_settings())
    upgrade(url)
    return url


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="Only emails in this state: stored, pending, sent, failed.")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Only emails to this address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
) -> None:
    """The newest emails of every partner: id, when, to whom, kind, state (no text)."""
    from sqlalchemy import func, select

    from partnerhub.db import Database
    from partnerhub.models import OutboxEmail

    url = _database_url()

    async def run() -> list[OutboxEmail]:
        db = Database(url, 1)
        try:
            async with db.transaction() as session:
                stmt = select(OutboxEmail)
                if status:
                    stmt = stmt.where(OutboxEmail.status == status.strip().lower())
                if to:
                    stmt = stmt.where(func.lower(OutboxEmail.to_address) == to.strip().lower())
                stmt = stmt.order_by(OutboxEmail.created.desc(), OutboxEmail.id.desc())
                return list((await session.execute(stmt.limit(limit))).scalars())
        finally:
            await db.dispose()

    mails = asyncio.run(run())
    # One email a line, tab-separated (for grep and cut), newest first.
    typer.echo("\t".join(("id", "created (UTC)", "to", "kind", "status")))
    for mail in mails:
        typer.echo(
            "\t".join(
                (
                    str(mail.id),
                    mail.created.strftime("%Y-%m-%d %H:%M:%S"),
                    mail.to_address,
                    mail.kind,
                    mail.status,
                )
            )
        )


@outbox_app.command("show")
def outbox_show(email_id: Annotated[str, typer.Argument(help="The email's id.")]) -> None:
    """Print one email with its full text, links included (to hand them over yourself)."""
    from partnerhub.db import Database
    from partnerhub.models import OutboxEmail

    try:
        key = uuid.UUID(email_id.strip())
    except ValueError:
        console.print(f"[red]not an email id: {escape(email_id)}[/red]")
        raise typer.Exit(2) from None
    url = _database_url()

    async def run() -> OutboxEmail | None:
        db = Database(url, 1)
        try:
            async with db.transaction() as session:
                return await session.get(OutboxEmail, key)
        finally:
            await db.dispose()

    mail = asyncio.run(run())
    if mail is None:
        console.print(f"[red]no email {key}[/red]")
        raise typer.Exit(1)
    typer.echo(f"From: {mail.from_address}")
    typer.echo(f"To: {mail.to_address}")
    typer.echo(f"Subject: {mail.subject}")
    typer.echo(f"Date: {mail.created:%Y-%m-%d %H:%M:%S} UTC")
    typer.echo(f"Kind: {mail.kind}")
    typer.echo(f"Status: {mail.status}")
    if mail.status == "sent":
        typer.echo("(delivered: the links it carried are held by the recipient only)")
    typer.echo("")
    typer.echo(mail.body_text)
