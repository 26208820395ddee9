"""The dispatcher's round and a feed page read only what comes after their position: the scan
of ``event_commits`` starts there (its primary key), whatever the length of the stream. (Its
row comparison alone, over two tables, once read the whole stream every round: 94 ms at
30,000 events, the delivery loop's largest cost.)"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from partnerhub.db import Database
from partnerhub.events import repository as store

STREAM = 5000
BASE_TXID = 10_000_000  # transaction ids no real transaction of the test has


def _scanned(plan: Any, relation: str) -> int:
    """Rows the plan's scans of ``relation`` returned, summed over every loop."""
    total = 0
    nodes = [plan]
    while nodes:
        node = nodes.pop()
        if node.get("Relation Name") == relation:
            total += int(node["Actual Rows"] * node.get("Actual Loops", 1))
        nodes.extend(node.get("Plans", []))
    return total


async def _stream(db: Database) -> tuple[int, int]:
    """A stream of STREAM one-event commits; the position and event id of the 10th last."""
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO event_commits (txid) "
                "SELECT :base + g FROM generate_series(1, :n) AS g ORDER BY g"
            ),
            {"base": BASE_TXID, "n": STREAM},
        )
        await session.execute(
            text(
                "INSERT INTO events (txid, resource, event, resource_id, partner_id, data) "
                "SELECT :base + g, 'locations', 'created', gen_random_uuid(), "
                "gen_random_uuid(), '{}' FROM generate_series(1, :n) AS g ORDER BY g"
            ),
            {"base": BASE_TXID, "n": STREAM},
        )
        row = (
            await session.execute(
                text(
                    "SELECT c.position, e.id FROM event_commits c JOIN events e USING (txid) "
                    "WHERE c.txid = :txid"
                ),
                {"txid": BASE_TXID + STREAM - 10},
            )
        ).one()
    async with db.transaction() as session:
        await session.execute(text("ANALYZE event_commits"))
        await session.execute(text("ANALYZE events"))
    return int(row[0]), int(row[1])


async def test_a_dispatch_round_reads_only_the_events_after_its_position(db: Database) -> None:
    position, event_id = await _stream(db)
    pool = await db.autocommit()
    async with pool.connection() as conn:
        async with conn.transaction(force_rollback=True):
            await conn.execute(
                "INSERT INTO webhook_dispatch (id, position, event_id) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, "
                "event_id = EXCLUDED.event_id",
                (position, event_id),
            )
            cursor = await conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + store._DISPATCH, {"max": 500}
            )
            row = await cursor.fetchone()
            assert row is not None
            plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    assert 10 <= _scanned(plan[0]["Plan"], "event_commits") <= 20  # not STREAM


async def test_a_feed_page_reads_only_the_events_after_its_cursor(db: Database) -> None:
    position, event_id = await _stream(db)
    sql, params = store.events_query(position, event_id, 1000, resources=["locations"])
    async with db.transaction() as session:
        result = await session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql), params)
        explained = result.scalar_one()
    plan = explained if isinstance(explained, list) else json.loads(explained)
    assert 10 <= _scanned(plan[0]["Plan"], "event_commits") <= 20  # not STREAM
