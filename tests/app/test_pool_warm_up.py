"""``serve`` opens its autocommit pool whole once it listens (``Database.warm``), so that the
first burst of requests does not wait for connections opened one at a time; a database that
does not answer leaves the pool as it is, and start-up goes on."""

from __future__ import annotations

import socket
import time

from partnerhub.db import Database


async def test_warm_opens_every_connection_of_the_pool(database_url: str) -> None:
    database = Database(database_url, pool_size=4)
    try:
        opened = await database.warm()
        assert opened == 4
        stats = database.direct.get_stats()
        assert stats["pool_size"] == 4
        assert stats["pool_available"] == 4  # every one given back
    finally:
        await database.dispose()


async def test_warm_gives_up_on_a_database_that_does_not_answer() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once closed
    database = Database(f"postgresql://nobody@127.0.0.1:{port}/none", pool_size=3)
    began = time.monotonic()
    try:
        assert await database.warm(within=1.0) == 0
        assert time.monotonic() - began < 5
    finally:
        await database.dispose()
