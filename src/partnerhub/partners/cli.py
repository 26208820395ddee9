"""``partnerhub partner create NAME --admin-email E`` and ``partnerhub partner list``: the
operator creates partners and sub-partners (:func:`partnerhub.partners.service.create_partner`,
the same rules as the hub API) and lists them.

``create`` prints the new partner's id, its organization id and its first full administrator's
password once (generated, or read from standard input with ``--password-stdin``). Exit status:
0 created, 2 refused (the reason on standard error; nothing is written).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

partner_app = typer.Typer(help="Partners and sub-partners.", no_args_is_help=True)
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)


def _partner_ref(ref: str) -> uuid.UUID:
    """A partner id (uuid) or organization id (what the API calls ``orgId``)."""
    from partnerhub import ids
    from partnerhub.errors import InvalidValue

    try:
        return uuid.UUID(ref)
    except ValueError:
        found = ids.decode("ORGANIZATION", ref.strip())
        if found is None:
            raise InvalidValue(
                f"--parent: '{ref}' is neither a partner id nor an organization id"
            ) from None
        return found


@partner_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The partner's name.")],
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="Email of its first full administrator.")
    ],
    admin_name: Annotated[
        str, typer.Option("--admin-name", help="That administrator's display name.")
    ] = "Administrator",
    parent: Annotated[
        str | None,
        typer.Option(help="Make it a sub-partner of this partner (partner id or orgId)."),
    ] = None,
    subscription_id: Annotated[
        str | None,
        typer.Option(help="Wholesale subscription id (a sub-partner: default the parent's)."),
    ] = None,
    pstn_provider: Annotated[
        list[str] | None, typer.Option("--pstn-provider", help="A PSTN provider; repeat.")
    ] = None,
    hosted_calling: Annotated[
        bool, typer.Option("--hosted-calling", help="Offer hosted calling too.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the administrator's password from standard input."
        ),
    ] = False,
) -> None:
    """Create a partner (or, with --parent, a sub-partner) and its first full administrator."""
    from partnerhub.config import get_settings
    from partnerhub.db import Database
    from partnerhub.errors import ApiError
    from partnerhub.ops.process import prepare_database
    from partnerhub.partners import service

    settings = get_settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = None
    else:
        password = generated = secrets.token_urlsafe(12)
    try:
        parent_id = _partner_ref(parent) if parent else None
    except ApiError as exc:
        console.print(f"[red]{escape(exc.description)}[/red]")
        raise typer.Exit(2) from None
    url = prepare_database(settings)

    async def run() -> service.CreatedPartner:
        db = Database(url, 1)
        try:
            async with db.transaction() as session:
                return await service.create_partner(
                    session,
                    service.NewPartner(
                        name=name,
                        admin_email=admin_email,
                        admin_name=admin_name,
                        parent_id=parent_id,
                        subscription_id=subscription_id,
                        pstn_providers=list(pstn_provider or []),
                        hosted_calling=hosted_calling,
                    ),
                    password=password,
                )
        finally:
            await db.dispose()

    try:
        created = asyncio.run(run())
    except ApiError as exc:
        console.print(f"[red]{escape(exc.description)}[/red]")
        raise typer.Exit(2) from None
    partner, admin = created.partner, created.admin
    kind = "sub-partner" if partner.parent_id else "partner"
    out.print(f"Created {kind} '{escape(partner.name)}'.")
    out.print(f"partner id:      {partner.id}")
    out.print(f"organization id: {service.org_id(partner)}")
    out.print(f"administrator:   {escape(admin.email)}")
    if generated:
        out.print(f"password:        {generated}  (shown only now)")
    out.print(f"Sign in at {settings.base_url()}/login")


@partner_app.command("list")
def list_partners() -> None:
    """List every partner and sub-partner of the installation."""
    from partnerhub.config import get_settings
    from partnerhub.db import Database
    from partnerhub.ops.process import prepare_database
    from partnerhub.partners import service
    from partnerhub.partners.repository import OperatorRepository, PartnerRow

    url = prepare_database(get_settings())

    async def run() -> list[PartnerRow]:
        db = Database(url, 1)
        try:
            async with db.transaction() as session:
                return await OperatorRepository(session).partners()
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    table = Table("partner id", "organization id", "name", "parent", "state", "administrators")
    for row in rows:
        p = row.partner
        table.add_row(
            str(p.id),
            service.org_id(p),
            escape(p.name),
            str(p.parent_id or ""),
            p.provisioning_state,
            str(row.admins),
        )
    Console(width=250).print(table)
