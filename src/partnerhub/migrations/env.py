"""Alembic environment: migrates the database the PartnerHub settings point at."""

from __future__ import annotations

from alembic import context

from partnerhub import models
from partnerhub.db import MIGRATION_LOCK, sqlalchemy_url, sync_engine

config = context.config
target_metadata = models.Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """procrastinate's tables belong to procrastinate's own schema file, not to our models."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def _url() -> str:
    """The libpq URL (or conninfo) of the database."""
    url = config.attributes.get("database_url")
    if url is None:
        from partnerhub.config import get_settings
        from partnerhub.db import database_url

        url = database_url(get_settings())
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=sqlalchemy_url(_url()), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, include_name=include_name
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sync_engine(_url(), config.attributes.get("prepared_statements", True))
    try:
        with engine.begin() as conn:
            # Several processes may start at once (serve + worker): one migrates, the others
            # wait. The lock is transaction-level: the migration's own COMMIT releases it, so
            # the next process sees the new revision, and nothing stays held on a server
            # connection that a pooler (PgBouncer in transaction mode) then hands to another
            # client. Alembic runs inside this transaction (it sees one already begun).
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.configure(
                connection=conn, target_metadata=target_metadata, include_name=include_name
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
