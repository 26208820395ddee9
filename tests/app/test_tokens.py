"""API tokens: stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from partnerhub.catalog.roles import implied
from partnerhub.errors import Forbidden, InvalidValue, MissingField
from partnerhub.identity import service as identity
from partnerhub.identity.repository import AdminRepository
from partnerhub.models import ApiToken
from tests.conftest import assert_error, bearer
from tests.factories import Tenant


async def test_only_the_hash_is_stored(tenant: Tenant) -> None:
    secret = await tenant.token("partnerhub:templates_read")
    async with tenant.db.transaction() as session:
        rows = list((await session.execute(select(ApiToken))).scalars())
    assert len(rows) == 1
    assert rows[0].token_hash == identity.hash_secret(secret)
    assert secret.encode() not in rows[0].token_hash
    assert rows[0].prefix == secret[:10]


async def test_revoked_token_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    secret = await tenant.token("partnerhub:templates_read")
    assert (await client.get("/v1/partner/templates", headers=bearer(secret))).status_code == 200
    async with tenant.db.transaction() as session:
        token = (await session.execute(select(ApiToken))).scalar_one()
        principal = identity.principal_for_admin(tenant.admin)
        await identity.revoke_token(AdminRepository(session, principal), token.id)
    assert_error(await client.get("/v1/partner/templates", headers=bearer(secret)), 401, 1500)


async def test_write_scope_implies_read(client: httpx.AsyncClient, tenant: Tenant) -> None:
    secret = await tenant.token("partnerhub:templates_write")
    assert (await client.get("/v1/partner/templates", headers=bearer(secret))).status_code == 200
    assert "spark-admin:wholesale_customers_read" in implied(
        {"spark-admin:wholesale_customers_write"}
    )


async def test_role_limits_grantable_scopes(tenant: Tenant) -> None:
    reader, _ = await tenant.add_admin("read_only")
    async with tenant.db.transaction() as session:
        with pytest.raises(Forbidden):
            identity.create_token(
                session, tenant.partner.id, "x", ["partnerhub:templates_write"], None, reader
            )
        created = identity.create_token(
            session, tenant.partner.id, "x", ["partnerhub:templates_read"], None, reader
        )
    assert created.token.scopes == ["partnerhub:templates_read"]


@pytest.mark.parametrize(
    ("scopes", "error"),
    [([], MissingField), (["no:such_scope"], InvalidValue), ("  ", MissingField)],
)
async def test_bad_scopes_refused(tenant: Tenant, scopes: object, error: type) -> None:
    async with tenant.db.transaction() as session:
        with pytest.raises(error):
            identity.create_token(session, tenant.partner.id, "x", scopes, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("never", None),
        ("7", timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta | None) -> None:
    assert identity.parse_duration(text) == expected


def test_parse_duration_refuses_garbage() -> None:
    with pytest.raises(InvalidValue):
        identity.parse_duration("soon")


def test_passwords_are_argon2() -> None:
    hashed = identity.hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert identity.verify_password(hashed, "correct horse")
    assert not identity.verify_password(hashed, "wrong")
    assert not identity.verify_password(None, "anything")


def test_a_process_hashes_at_argon2s_default_cost() -> None:
    """The service's own cost (the suite hashes at argon2's cheapest in-process:
    ``cheap_password_hashes``): a fresh process, as ``partnerhub serve`` is, hashes at
    argon2-cffi's default parameters, and verifies a cheap hash too."""
    from argon2 import PasswordHasher

    cheap = identity.hash_password("correct horse")
    program = (
        "import sys; from partnerhub.identity import service as s; "
        "print(s.hash_password('correct horse')); "
        "print(s.verify_password(sys.argv[1], 'correct horse'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, cheap], capture_output=True, text=True, check=True
    )
    hashed, verified = done.stdout.split()
    default = PasswordHasher()
    assert hashed.startswith(
        f"$argon2id$v=19$m={default.memory_cost},t={default.time_cost},p={default.parallelism}$"
    ), hashed
    assert (default.memory_cost, default.time_cost) >= (65536, 3)
    assert verified == "True"
    assert not cheap.startswith(hashed.rsplit("$", 2)[0])
