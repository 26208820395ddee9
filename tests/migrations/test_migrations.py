"""The Alembic revisions build exactly the schema the models describe, and go down again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text

from partnerhub import models
from partnerhub.db import migration_status, sqlalchemy_url


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            # Partitions (of usage_ledger) are part of their partitioned table's model.
            partitions = {
                row[0]
                for row in conn.execute(text("SELECT relname FROM pg_class WHERE relispartition"))
            }
            context = MigrationContext.configure(
                conn,
                opts={
                    # procrastinate's tables belong to procrastinate, not to our models.
                    "include_name": lambda name, type_, parent: (
                        not (
                            type_ == "table"
                            and ((name or "").startswith("procrastinate_") or name in partitions)
                        )
                    )
                },
            )
            diff = compare_metadata(context, models.Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_database_is_at_head(database_url: str) -> None:
    current, head = migration_status(database_url)
    assert current == head is not None
