"""A constraint the database enforced → the contract's error, by the constraint's name.

The services check first, so that the usual case gets a precise message; a concurrent request
can still win the race between that check and the write, and then the database refuses the
row. Inside :func:`constraint_errors`, that refusal becomes the same clean error the check
gives (a 409 or 400 in the contract's shape), never a 500::

    with constraint_errors({"uq_locations_customer_name": name_taken(data.name)}):
        await repo.session.flush()

A constraint not named in the mapping propagates unchanged (a bug, or a rule the service does
not answer).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg
from sqlalchemy.exc import IntegrityError

from partnerhub.errors import ApiError


def violated_constraint(exc: IntegrityError | psycopg.IntegrityError) -> str:
    """The name of the constraint an INSERT/UPDATE/DELETE violated ('' if unknown); from the
    ORM's :class:`IntegrityError` or the driver's (plain statements on the autocommit pool)."""
    driver = exc.orig if isinstance(exc, IntegrityError) else exc
    diag = getattr(driver, "diag", None)
    return str(getattr(diag, "constraint_name", None) or "")


def constraint_problem(
    exc: IntegrityError | psycopg.IntegrityError, errors: Mapping[str, ApiError]
) -> ApiError | None:
    """The error ``errors`` gives for the constraint ``exc`` violated (``None``: not named)."""
    return errors.get(violated_constraint(exc))


@contextmanager
def constraint_errors(errors: Mapping[str, ApiError]) -> Iterator[None]:
    """Raise ``errors[name]`` when a statement in the block violates the constraint ``name``
    (see the module docstring); any other violation propagates."""
    try:
        yield
    except (IntegrityError, psycopg.IntegrityError) as exc:
        problem = constraint_problem(exc, errors)
        if problem is None:
            raise
        raise problem from None
