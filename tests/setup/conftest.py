"""Fixtures of the "Set up customer" pages' tests, shared with the customer pages' tests."""

from tests.customers.portal.conftest import setup  # noqa: F401 - the shared fixture
