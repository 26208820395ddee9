"""A connection that drops under a raw driver statement answers 503, not 500.

Behind PgBouncer, a PostgreSQL restart can close a client connection in the middle of a
statement on the autocommit pool (plain psycopg without the ORM, e.g. the bearer check).
psycopg then raises an ``InternalError`` of its own, with no SQLSTATE from a server ("got no
result from the query"), which SQLAlchemy recognises as a disconnect but the plain path handed
on unclassified: the request answered 500. (The first PgBouncer scale-out run,
scripts/ci_pgbouncer.sh, answered three customer POSTs 500 at the instant of the restart;
their tracebacks went with that run's logs, and this is the one exception of that path that
was not classified. No 500 since.) A server's internal error (SQLSTATE XX000) remains a 500.
"""

from __future__ import annotations

import psycopg

from partnerhub.kit.web import classify_unhandled


def test_a_query_without_a_result_is_a_lost_connection() -> None:
    status, _, code, retry = classify_unhandled(
        psycopg.InternalError("got no result from the query"), "t"
    )
    assert (status, code, retry) == (503, 1600, "5")


def test_an_internal_error_of_the_server_stays_a_500() -> None:
    status, _, code, retry = classify_unhandled(psycopg.errors.InternalError_("boom"), "t")
    assert (status, code, retry) == (500, 1999, None)
