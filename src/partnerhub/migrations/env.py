"""Alembic environment: migrates the database the PartnerHub settings point at."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from partnerhub import models
from partnerhub.db import sqlalchemy_url

config = context.config
target_metadata = models.Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """procrastinate's tables belong to procrastinate's own schema file, not to our models."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def _url() -> str:
    url = config.attributes.get("database_url")
    if url is None:
        from partnerhub.config import get_settings
        from partnerhub.db import database_url

        url = database_url(get_settings())
    return sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
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
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        # Several processes may start at once (serve + worker): one migrates, the others wait.
        # The lock is a session lock: the migration commits *before* it is released, so the
        # next process sees the new revision (releasing it first let a waiting process run the
        # same migrations again and fail with "relation already exists").
        conn.exec_driver_sql("SELECT pg_advisory_lock(724011)")
        try:
            context.configure(
                connection=conn, target_metadata=target_metadata, include_name=include_name
            )
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(724011)")
            conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
