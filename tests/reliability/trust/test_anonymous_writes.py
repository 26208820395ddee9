"""Issue 10, item 10: anonymous traffic writes nothing.

A visitor who has not signed in creates no database row: the sign-in pages' CSRF token is a
signed double-submit token (a random value in the ``partnerhub_csrf`` cookie, the form carrying
its HMAC under the server key), and the language picked before signing in is a cookie. The
portal session row is written at a successful sign-in only.

What a visitor's *failed attempt* writes is documented (docs/security.md, "Anonymous
visitors"): the throttle's counters in ``sign_in_attempts`` (an attempt must be counted to be
bounded), and a reset request's job. Page views write nothing at all.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from partnerhub.audit.service import NO_TENANT
from tests.conftest import csrf_of
from tests.reliability.trust.conftest import World
from tests.reliability.trust.test_throttle_concurrency import (  # noqa: F401 - settled_server: a fixture
    client_address,
    settled_server,
)

PAGES = ["/login", "/signin", "/signin/forgot", "/signin/done", "/login?next=/customers"]


async def row_counts(world: World) -> dict[str, int]:
    """The number of rows of every table of the database (procrastinate's included)."""
    async with world.db.transaction() as session:
        tables = [
            r[0]
            for r in await session.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ]
        counts = {}
        for table in sorted(tables):
            counts[table] = (
                await session.execute(text(COUNTS.get(table, f'SELECT count(*) FROM "{table}"')))
            ).scalar_one()
    return counts


# The worker beside the server defers its periodic jobs on its own clock (one of them every
# minute, src/partnerhub/notifications/tasks.py): a test that crosses a minute sees them. They are
# counted apart, by their ``procrastinate_periodic_defers`` row, so any other job (one a visitor
# caused) still counts.
_PERIODIC = "SELECT job_id FROM procrastinate_periodic_defers WHERE job_id IS NOT NULL"
COUNTS = {
    "procrastinate_jobs": f"SELECT count(*) FROM procrastinate_jobs WHERE id NOT IN ({_PERIODIC})",
    "procrastinate_events": (
        f"SELECT count(*) FROM procrastinate_events WHERE job_id NOT IN ({_PERIODIC})"
    ),
}

# The webhook dispatcher's one bookkeeping row (its position in the event stream), which the
# worker beside the server writes on its own schedule (emptied between tests, so written again
# during one), and the periodic schedule's own rows: not a visitor's write.
BACKGROUND = frozenset({"webhook_dispatch", "procrastinate_periodic_defers"})


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {
        t: (before.get(t, 0), n)
        for t, n in after.items()
        if before.get(t, 0) != n and t not in BACKGROUND
    }


async def test_anonymous_page_views_write_nothing(world: World) -> None:
    before = await row_counts(world)

    async def visitor(i: int) -> None:
        # Each visitor a new browser (no cookies), as a crawler or a flood would be.
        async with world.client() as client:
            page = await client.get(PAGES[i % len(PAGES)], headers=client_address())
            assert page.status_code == 200, page.text[:300]
            assert 'name="csrf_token"' in page.text
            assert "partnerhub_session" not in page.cookies
            # The language picker of a visitor: a cookie, no row.
            if i % 10 == 0:
                picked = await client.post(
                    "/language",
                    data={"csrf_token": csrf_of(page.text), "lang": "it", "next": "/login"},
                )
                assert picked.status_code == 303
                assert "Accedi a PartnerHub" in (await client.get("/login")).text

    await asyncio.gather(*(visitor(i) for i in range(50)))
    assert changed(before, await row_counts(world)) == {}


async def test_the_sign_in_forms_csrf_token_needs_no_row(world: World) -> None:
    async with world.client() as client:
        page = await client.get("/signin")
        cookie = page.cookies["partnerhub_csrf"]
        header = next(v for k, v in page.headers.multi_items() if k == "set-cookie")
        assert "HttpOnly" in header and "SameSite=lax" in header
        token = csrf_of(page.text)
        assert cookie not in token  # the form carries its HMAC, not the cookie
        before = await row_counts(world)
        # The token is checked: the right one goes through to the password check (401) ...
        data = {"email": "nobody@nowhere.example", "password": "x" * 12, "next": "/"}
        ok = await client.post("/signin/password", data={**data, "csrf_token": token})
        assert ok.status_code == 401
        # ... a forged one, or the right one without its cookie, is refused (403).
        forged = await client.post("/signin/password", data={**data, "csrf_token": "f" * 64})
        assert forged.status_code == 403
        async with world.client() as stranger:  # another browser: no such cookie
            replay = await stranger.post("/signin/password", data={**data, "csrf_token": token})
            assert replay.status_code == 403
            # Its own cookie with the first browser's token: refused too.
            await stranger.get("/login")
            mixed = await stranger.post("/login", data={**data, "csrf_token": token})
            assert mixed.status_code == 403
        # A failed attempt writes only the throttle's counters and its one audit row, in the log
        # of no organization (an address nobody has: docs/audit.md, docs/security.md); the
        # refused tokens write nothing.
        grown = changed(before, await row_counts(world))
        assert set(grown) <= {"sign_in_attempts", "audit_events"}
        async with world.db.transaction() as session:
            logged = (
                await session.execute(
                    text(
                        "SELECT partner_id, target_name FROM audit_events"
                        " WHERE target_name = 'nobody@nowhere.example'"
                    )
                )
            ).all()
        assert [(row[0], row[1]) for row in logged] == [(NO_TENANT, "nobody@nowhere.example")]


async def test_the_session_row_is_written_at_sign_in(world: World) -> None:
    async with world.client() as client:
        page = await client.get("/login")
        before = await row_counts(world)
        signed = await client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "email": world.a.admin.email,
                "password": world.a.password,
                "next": "/",
            },
            headers=client_address(),
        )
        assert signed.status_code == 303
        after = await row_counts(world)
        assert after["portal_sessions"] == before["portal_sessions"] + 1
        # The signed-in pages use the session's own CSRF token from then on.
        tokens = await client.get("/settings/tokens")
        assert tokens.status_code == 200
        assert csrf_of(tokens.text) != csrf_of(page.text)
        created = await client.post(
            "/settings/tokens",
            data={"csrf_token": csrf_of(page.text), "name": "x", "scopes": "partnerhub:read"},
        )
        assert created.status_code == 403  # the visitor's token is no longer good
