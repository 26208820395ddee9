"""Fixtures of the customer portal's tests: the organization users' settings and identity
providers, shared with the platform identity tests (tests/identity/org/conftest.py)."""

from tests.identity.org.conftest import (  # noqa: F401 - fixtures shared with the identity tests
    idp_http,
    oidc_provider,
    saml_idp,
    settings,
)
