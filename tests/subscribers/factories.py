"""Moved to :mod:`tests.factories`; re-exported while ``tests/subscribers/test_fast_lane.py``
(being deleted) still imports from here. Delete this module with it."""

from tests.factories import (  # noqa: F401 - re-exported for the transition
    ALL_WRITE,
    LOC_READ,
    LOC_WRITE,
    NUM_READ,
    NUM_WRITE,
    SUB_READ,
    SUB_WRITE,
    US_ADDRESS,
    Setup,
    add_numbers,
    make_customer,
    make_template,
    number,
)
