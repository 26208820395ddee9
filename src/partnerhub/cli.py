"""The ``partnerhub`` command: serve, worker, db, token, admin, audit, partner, import, outbox,
backup, restore, doctor (README.md, "Commands")."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from partnerhub.config import Settings, get_settings
from partnerhub.notifications.cli import outbox_app
from partnerhub.ops.process import configure_logging, prepare_database
from partnerhub.partners.cli import partner_app
from partnerhub.subscribers.cli import import_app

KEEP_ALIVE_SECONDS = 75  # serve: idle kept-alive connections (see the uvicorn.Config below)

app = typer.Typer(
    help="PartnerHub: self-hosted wholesale provisioning hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
admin_app = typer.Typer(help="Partner administrators.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log (docs/audit.md).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(admin_app, name="admin")
app.add_typer(import_app, name="import")
app.add_typer(outbox_app, name="outbox")
app.add_typer(partner_app, name="partner")
console = Console(stderr=True)


def _settings_help() -> str:
    lines = ["Settings (environment variables):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  PARTNERHUB_{name.upper()}: {field.description}")
    return "\n\n".join(["Start the portal and the API.", *lines])


def _say(settings: Settings, markup: str) -> None:
    """A message for the operator: on the console, or a log line when lines are JSON."""
    if settings.log_format == "json":
        from rich.text import Text

        logging.getLogger("partnerhub").warning(Text.from_markup(markup).plain)
    else:
        console.print(markup)


async def _bootstrap(settings: Settings, url: str) -> tuple[str, list[str]] | None:
    """Create the first partner and administrator on an empty database; the credentials block
    to show (``None`` when the database had partners already)."""
    from partnerhub.db import Database
    from partnerhub.identity.service import bootstrap

    db = Database(url, 1, settings.database_prepared_statements)
    try:
        async with db.transaction() as session:
            created = await bootstrap(
                session, settings.partner_name, settings.admin_email, settings.admin_password
            )
    finally:
        await db.dispose()
    if created is None:
        return None
    admin, generated = created
    settings_note = generated or "(the one in PARTNERHUB_ADMIN_PASSWORD)"
    return (
        f"First start: created partner '{settings.partner_name}'",
        [
            f"Sign in at  {settings.base_url()}/login",
            f"Email       {admin.email}",
            f"Password    {settings_note}",
            "Shown only now; lost it? partnerhub admin reset-password EMAIL",
        ],
    )


def _credentials(settings: Settings, title: str, lines: list[str]) -> None:
    """Credentials for the operator in a framed block, easy to find among the log lines
    (a plain log line when lines are JSON)."""
    if settings.log_format == "json":
        logging.getLogger("partnerhub").warning("%s: %s", title, "; ".join(lines))
        return
    from rich.panel import Panel

    console.print(Panel("\n".join(lines), title=title, expand=False, border_style="green"))


@app.command(help=_settings_help())
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (PARTNERHUB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port (PARTNERHUB_PORT).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve only; run `partnerhub worker` elsewhere.")
    ] = False,
) -> None:
    import uvicorn

    from partnerhub.kit import http_protocol, logsafe
    from partnerhub.ops import logs

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    configure_logging(settings)
    url = prepare_database(settings)
    first_start = asyncio.run(_bootstrap(settings, url))
    from partnerhub.app import create_app

    application = create_app(settings, url, worker=not no_worker)
    from partnerhub.sso import saml

    if (missing := saml.unavailable_reason()) is not None:
        _say(settings, f"[yellow]{missing}[/yellow]")
    _say(settings, f"PartnerHub serving on {settings.base_url()} (worker: {not no_worker})")

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                # Everything built so far (the app, its routes, the ORM's mappers, the
                # imported modules: about 200,000 objects) lives as long as the process: out
                # of the cyclic collector's sight, a full collection while serving scans only
                # what requests and jobs made since (it scanned them all: 0.1 s at a time).
                gc.collect()
                gc.freeze()
                # The autocommit pool opened whole now, not by the first burst of requests.
                from partnerhub import runtime

                await runtime.database().warm()
            if first_start is not None and self.started:
                # after the start-up noise, where the operator looks
                _credentials(settings, *first_start)

    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level.lower() == "debug",
        # the access log without link tokens, in the chosen format (ops/logs.py)
        log_config=logs.uvicorn_config(logsafe.uvicorn_log_config(), settings.log_format),
        proxy_headers=True,
        http=http_protocol.protocol_class(),  # parser errors in the contract's shape
        # SIGTERM/Ctrl-C: in-flight requests get this long, then the worker's jobs as long
        # (app.py); the embedded PostgreSQL stops at exit (docs/configuration.md).
        timeout_graceful_shutdown=settings.shutdown_seconds,
        # An idle kept-alive connection stays open this long (uvicorn's default is 5 s): a
        # client whose pool keeps idle connections about as long (httpx: 5 s) otherwise sends
        # its next request on a connection the server is closing at that moment and gets "Server
        # disconnected without sending a response"; a proxy in front should time out sooner
        # (docs/deployment.md).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(3)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Concurrent jobs.")] = None,
) -> None:
    """Run background jobs (provisioning, reconcilers) without serving HTTP."""
    settings = get_settings()
    configure_logging(settings)
    url = prepare_database(settings)
    if settings.worker_nice > 0:
        # Background work yields to the serving processes on the same machine (their
        # latency is the API's; provisioning is asynchronous anyway).
        os.nice(settings.worker_nice)

    async def run() -> None:
        import contextlib
        import signal

        from partnerhub import jobs, runtime
        from partnerhub.ops import metrics, tracing

        runtime.init(settings, url)
        tracing.install(None, settings, service="partnerhub-worker")
        await jobs.open_app(url, prepared_statements=settings.database_prepared_statements)
        workers = concurrency or settings.worker_concurrency
        exposed: Any = None
        if settings.worker_metrics_port and settings.metrics_enabled():
            exposed = metrics.worker_metrics_server(settings)
            served = asyncio.create_task(exposed.serve())
        task = asyncio.create_task(jobs.run_configured_worker(settings, workers))

        def stop(sig: int) -> None:  # running jobs get PARTNERHUB_SHUTDOWN_SECONDS to finish
            stopped_by.append(sig)
            task.cancel()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        console.print(f"PartnerHub worker running (concurrency {workers})")
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            if exposed is not None:
                exposed.should_exit = True
                with contextlib.suppress(Exception):
                    await served
            await jobs.close_app()
            await runtime.close()
            tracing.shutdown()

    stopped_by: list[int] = []
    asyncio.run(run())
    if stopped_by:  # the same exit status as a process the signal would have ended
        raise typer.Exit(128 + stopped_by[0])


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = get_settings()
    configure_logging(settings)
    prepare_database(settings)
    console.print("Database is up to date.")


@db_app.command("status")
def db_status() -> None:
    """Show the database's revision and the newest one."""
    from partnerhub.db import database_url, migration_status

    settings = get_settings()
    current, head = migration_status(database_url(settings), settings.database_prepared_statements)
    typer.echo(f"current: {current or '(empty)'}")
    typer.echo(f"head:    {head}")
    typer.echo("up to date" if current == head else "upgrade needed: partnerhub db upgrade")
    if current != head:
        raise typer.Exit(1)


def _scopes_help() -> str:
    from partnerhub.catalog.roles import SCOPE_DESCRIPTIONS

    listed = "\n\n".join(f"{name}: {text}" for name, text in SCOPE_DESCRIPTIONS.items())
    return f"A scope to grant; repeat, or comma-separate. Scopes:\n\n{listed}"


@admin_app.command("reset-password")
def admin_reset_password(
    email: Annotated[str, typer.Argument(help="The administrator's email address.")],
) -> None:
    """Give a partner administrator a new password (printed once); its sessions end."""
    from partnerhub.db import Database
    from partnerhub.errors import ApiError
    from partnerhub.identity import service as identity

    settings = get_settings()
    configure_logging(settings)
    url = prepare_database(settings)

    async def run() -> tuple[str, str]:
        db = Database(url, 1, settings.database_prepared_statements)
        try:
            async with db.transaction() as session:
                admin, password = await identity.reset_admin_password(session, email)
                return admin.email, password
        finally:
            await db.dispose()

    try:
        found, password = asyncio.run(run())
    except ApiError as exc:
        console.print(f"[red]{exc.description}[/red]")
        raise typer.Exit(2) from None
    _credentials(
        settings,
        "New password",
        [
            f"Sign in at  {settings.base_url()}/login",
            f"Email       {found}",
            f"Password    {password}",
            "Shown only now; the administrator's portal sessions have ended.",
        ],
    )


@token_app.command("create")
def token_create(
    scope: Annotated[list[str], typer.Option("--scope", help=_scopes_help())],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    expires: Annotated[str, typer.Option(help="Lifetime: 30d, 12h, 90m or never.")] = "90d",
    partner: Annotated[
        str | None, typer.Option(help="Partner id (default: the top-level partner).")
    ] = None,
) -> None:
    """Create an API token and print it once."""
    import uuid

    from sqlalchemy import select

    from partnerhub.db import Database
    from partnerhub.errors import ApiError
    from partnerhub.identity import service as identity
    from partnerhub.models import Partner

    settings = get_settings()
    url = prepare_database(settings)

    async def run() -> str:
        db = Database(url, 1, settings.database_prepared_statements)
        try:
            async with db.transaction() as session:
                if partner:
                    partner_id = uuid.UUID(partner)
                else:
                    stmt = (
                        select(Partner.id)
                        .where(Partner.parent_id.is_(None))
                        .order_by(Partner.created)
                        .limit(1)
                    )
                    found = (await session.execute(stmt)).scalar_one_or_none()
                    if found is None:
                        raise typer.BadParameter("no partner yet: run `partnerhub serve` once")
                    partner_id = found
                new = identity.create_token(
                    session,
                    partner_id,
                    name,
                    ",".join(scope),
                    identity.parse_duration(expires),
                )
                return new.secret
        finally:
            await db.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except ApiError as exc:
        console.print(f"[red]{exc.description}[/red]")
        raise typer.Exit(2) from None


@audit_app.command("purge")
def audit_purge(
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Age of the rows to delete: 400d, 52w (at least 30d)."),
    ],
) -> None:
    """Delete audit rows older than --older-than, for every partner: the retention purge, the
    only deletion the audit log's trigger lets through (docs/audit.md)."""
    from partnerhub.audit import service as audit
    from partnerhub.db import Database
    from partnerhub.errors import ApiError
    from partnerhub.identity import service as identity

    settings = get_settings()
    url = prepare_database(settings)

    async def run() -> int:
        age = identity.parse_duration(older_than)
        if age is None:
            raise typer.BadParameter("--older-than: give an age such as 400d")
        db = Database(url, 1, settings.database_prepared_statements)
        try:
            async with db.transaction() as session:
                return await audit.purge(session, age)
        finally:
            await db.dispose()

    try:
        typer.echo(f"{asyncio.run(run())} audit rows deleted")
    except ApiError as exc:
        console.print(f"[red]{exc.description}[/red]")
        raise typer.Exit(2) from None


@audit_app.command("unattributed")
def audit_unattributed(
    since: Annotated[
        str, typer.Option("--since", help="How far back: 1d, 12h, 2w (default 1d).")
    ] = "1d",
    limit: Annotated[
        int, typer.Option("--max", min=1, max=100_000, help="At most this many rows, newest first.")
    ] = 1000,
) -> None:
    """The log of no organization: refused sign-ins (and password reset requests) of
    addresses no account has (no partner reads them; docs/audit.md). One line a row, newest
    first, tab-separated: time, client address, sign-in form, the address typed, user agent,
    TrackingID, action (signin.failed, signin.throttled, account.reset_request, ...)."""
    from partnerhub.audit import service as audit
    from partnerhub.db import Database
    from partnerhub.identity import service as identity

    settings = get_settings()
    url = prepare_database(settings)
    age = identity.parse_duration(since)
    if age is None:
        raise typer.BadParameter("--since: give an age such as 1d")

    async def run() -> list[str]:
        db = Database(url, 1, settings.database_prepared_statements)
        try:
            async with db.transaction() as session:
                rows = await audit.unattributed(session, age, limit)
        finally:
            await db.dispose()
        return [
            "\t".join(
                (
                    row.created.isoformat(),
                    row.actor_ip,
                    str((row.detail or {}).get("method", "")),
                    row.target_name,
                    row.actor_user_agent,
                    row.tracking_id,
                    row.action,
                )
            )
            for row in rows
        ]

    for line in asyncio.run(run()):
        typer.echo(line)


def _exit_on_sigterm() -> None:
    """SIGTERM ends the process like Ctrl-C does: by an exception, so ``finally`` blocks and
    exit handlers run (the embedded PostgreSQL is stopped by its last user,
    ``embedded.release``), with the exit status 143. uvicorn and the worker take the signal
    over while they run, stop gracefully, and then exit the same way. A SIGTERM the parent
    process set to be ignored stays ignored."""
    import signal

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
) -> None:
    """Back up the database to FILE (pg_dump custom format), online: serve and workers may
    go on running."""
    from partnerhub.ops import backup as ops_backup

    settings = get_settings()
    configure_logging(settings)
    try:
        size = ops_backup.backup(settings, file)
    except ops_backup.BackupError as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Backed up to {file} ({size:,} bytes).", err=True)


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `partnerhub backup`.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace everything the database holds (stop every process first)."
        ),
    ] = False,
) -> None:
    """Restore FILE into an empty database (a fresh PARTNERHUB_DATA_DIR), all or nothing."""
    from partnerhub.ops import backup as ops_backup

    settings = get_settings()
    configure_logging(settings)
    try:
        ops_backup.restore(settings, file, force=force)
    except ops_backup.BackupError as exc:
        typer.echo(f"restore refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Restored {file}. Start it with `partnerhub serve`.", err=True)


@app.command()
def doctor() -> None:
    """Check the configuration, database (reachable, version, migrations), SMTP and the
    public URL; say what to fix. Exit 1 when a check fails."""
    from rich.markup import escape
    from rich.table import Table

    from partnerhub.ops import doctor as checks

    logging.basicConfig(level=logging.WARNING)
    results = checks.run()
    table = Table("check", "result", "detail", "what to do", show_lines=False)
    colour = {checks.OK: "green", checks.WARN: "yellow", checks.FAIL: "red"}
    for check in results:
        table.add_row(
            check.name,
            f"[{colour[check.result]}]{check.result}[/]",
            escape(check.detail),
            escape(check.fix),
        )
    Console(width=max(Console().width, 160)).print(table)
    if any(check.result == checks.FAIL for check in results):
        raise typer.Exit(1)


def main() -> None:
    _exit_on_sigterm()
    app()
