"""The process's shared resources (database), set up once by ``serve``, ``worker`` or tests."""

from __future__ import annotations

from partnerhub.config import Settings, get_settings
from partnerhub.db import Database

_database: Database | None = None
_settings: Settings | None = None


def init(settings: Settings, url: str) -> Database:
    global _database, _settings
    _settings = settings
    if _database is None or _database.url != url:
        _database = Database(url, settings.db_pool_size, settings.database_prepared_statements)
    return _database


def database() -> Database:
    if _database is None:
        raise RuntimeError("runtime.init() has not been called in this process")
    return _database


def settings() -> Settings:
    """The settings the process was started with (``get_settings()`` before ``init``)."""
    return _settings if _settings is not None else get_settings()


async def close() -> None:
    global _database
    if _database is not None:
        await _database.dispose()
        _database = None
