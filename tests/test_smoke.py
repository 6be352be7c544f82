from conftest import World, assert_error


async def test_health(client):
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_world(client, world: World):
    r = await client.get("/api/auth/me", headers=world.admin_a.headers())
    assert r.status_code == 200, r.text
    assert r.json()["tenantIds"] == [str(world.tenant_a)]
    r = await client.get("/api/user/tenant-users", headers=world.admin_a.headers(world.tenant_b))
    assert_error(r, 403)
