from tests.conftest import portal_login, Tenant
import httpx, re

async def test_x(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    r = await client.get("/customers/templates/new", follow_redirects=True)
    r = await client.post("/customers/templates/wizard/offer", data={"csrf_token": csrf, "offer": "wholesale"})
    print(r.status_code, r.headers.get("location"))
    r = await client.post("/customers/templates/wizard/core", data={"csrf_token": csrf, "name": "", "country": "XX"})
    print(r.status_code)
    print(re.findall(r'field-error[^>]*>([^<]*)', r.text))
    r = await client.get("/customers/templates/wizard/calling?return_to=review")
    print(r.status_code)
    r = await client.get("/customers/templates/xyz")
    print(r.status_code, r.text[-600:])
    r = await client.post("/settings/tokens/abc/revoke", data={"csrf_token": csrf})
    print(r.status_code, r.text[-300:])
    assert 0
