"""The trust world itself: the server answers, each tenant signs in and sees only itself."""

from __future__ import annotations

from tests.conftest import bearer
from tests.reliability.trust.conftest import World


async def test_each_tenant_signs_in_and_reads_only_its_own_templates(world: World) -> None:
    for tenant in (world.a, world.b, world.sub):
        client, csrf = await world.signed_in(tenant.admin.email, tenant.password)
        try:
            assert csrf
            page = await client.get("/customers/templates")
            assert page.status_code == 200
        finally:
            await client.aclose()
    token_b = await world.b.token("partnerhub:templates_read")
    async with world.client() as client:
        response = await client.get("/v1/partner/templates", headers=bearer(token_b))
        assert response.status_code == 200
        assert response.json()["items"] == []
