"""Tenant endpoints: setup, list, mine, get, patch, delete."""

from __future__ import annotations

import uuid

from conftest import PASSWORD, World, add_user, assert_error, login, setup_tenant
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


def setup_body(**overrides: str) -> dict[str, str]:
    """A valid tenant-setup body; keyword arguments replace fields."""
    body = {
        "name": "Ok",
        "slug": "ok",
        "adminEmail": "ok@x.test",
        "adminPassword": PASSWORD,
        "adminFirstName": "O",
        "adminLastName": "K",
    }
    return {**body, **overrides}


async def test_setup_creates_tenant_admin_and_membership(client: Client, world: World) -> None:
    tenant_c = await setup_tenant(client, world.root, "tenant-c", "admin@c.test")
    admin_c = await login(client, "admin@c.test")
    me = (await client.get("/api/auth/me", headers=admin_c.headers())).json()
    assert me["tenantIds"] == [str(tenant_c)]
    assert me["roles"] == ["ADMIN"]
    users = await client.get("/api/user/tenant-users", headers=admin_c.headers(tenant_c))
    assert [u["email"] for u in users.json()["data"]] == ["admin@c.test"]


async def test_setup_links_existing_user_without_changing_password(client: Client, world: World) -> None:
    response = await client.post(
        "/api/tenant/setup",
        headers=world.root.headers(),
        json=setup_body(slug="second", adminEmail="ADMIN@a.test", adminPassword="a-different-password"),
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"id", "name", "slug"}
    admin_a = await login(client, "admin@a.test", PASSWORD)  # old password still works
    me = (await client.get("/api/auth/me", headers=admin_a.headers())).json()
    assert sorted(me["tenantIds"]) == sorted([str(world.tenant_a), response.json()["id"]])


async def test_setup_duplicate_slug_is_409(client: Client, world: World) -> None:
    body = setup_body(slug="tenant-a", adminEmail="dup@x.test")
    response = await client.post("/api/tenant/setup", headers=world.root.headers(), json=body)
    assert "slug" in assert_error(response, 409)["message"]
    # nothing half-written: the admin user of the failed setup does not exist
    failed = await client.post("/api/auth/login", json={"identifier": "dup@x.test", "password": PASSWORD})
    assert_error(failed, 401)


async def test_setup_validation(client: Client, world: World) -> None:
    good = setup_body()
    for patch in (
        {"slug": "Bad Slug"},
        {"slug": "-bad"},
        {"adminEmail": "not-an-email"},
        {"adminPassword": "short"},
        {"name": ""},
        {"tenantId": str(uuid.uuid4())},
    ):
        response = await client.post(
            "/api/tenant/setup", headers=world.root.headers(), json={**good, **patch}
        )
        assert_error(response, 400)
    missing = {k: v for k, v in good.items() if k != "slug"}
    assert_error(await client.post("/api/tenant/setup", headers=world.root.headers(), json=missing), 400)


async def test_setup_needs_create_tenant(client: Client, world: World) -> None:
    response = await client.post(
        "/api/tenant/setup",
        headers=world.admin_a.headers(),
        json=setup_body(slug="n", adminEmail="n@x.test"),
    )
    assert_error(response, 403)
    assert_error(await client.post("/api/tenant/setup", json={}), 401)


async def test_list_tenants_super_admin_sees_all_admin_sees_own(client: Client, world: World) -> None:
    everything = (await client.get("/api/tenant", headers=world.root.headers())).json()
    assert {t["slug"] for t in everything} == {"tenant-a", "tenant-b"}
    assert set(everything[0]) >= {"id", "name", "slug", "createdAt"}
    assert everything[0]["createdAt"].endswith("Z")
    own = (await client.get("/api/tenant", headers=world.admin_a.headers())).json()
    assert [t["id"] for t in own] == [str(world.tenant_a)]


async def test_list_tenants_needs_view_tenants(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    assert_error(await client.get("/api/tenant", headers=fde.headers()), 403)


async def test_my_tenants(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    mine = (await client.get("/api/tenant/mine", headers=fde.headers())).json()
    assert mine == [{"id": str(world.tenant_a), "name": "Tenant-A", "slug": "tenant-a"}]
    assert (await client.get("/api/tenant/mine", headers=world.root.headers())).json() == []


async def test_get_tenant_cross_tenant_is_404(client: Client, world: World) -> None:
    own = await client.get(f"/api/tenant/{world.tenant_a}", headers=world.admin_a.headers())
    assert own.status_code == 200 and own.json()["slug"] == "tenant-a"
    assert_error(await client.get(f"/api/tenant/{world.tenant_b}", headers=world.admin_a.headers()), 404)
    assert_error(await client.get(f"/api/tenant/{uuid.uuid4()}", headers=world.root.headers()), 404)
    assert (
        await client.get(f"/api/tenant/{world.tenant_b}", headers=world.root.headers())
    ).status_code == 200


async def test_patch_tenant(client: Client, world: World) -> None:
    url = f"/api/tenant/{world.tenant_a}"
    response = await client.patch(url, headers=world.root.headers(), json={"name": "Renamed"})
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    assert response.json()["slug"] == "tenant-a"
    assert_error(await client.patch(url, headers=world.root.headers(), json={"slug": "tenant-b"}), 409)
    assert_error(await client.patch(url, headers=world.root.headers(), json={"slug": "NO"}), 400)
    assert_error(await client.patch(url, headers=world.root.headers(), json={"id": "x"}), 400)
    assert_error(await client.patch(url, headers=world.admin_a.headers(), json={"name": "x"}), 403)
    missing = f"/api/tenant/{uuid.uuid4()}"
    assert_error(await client.patch(missing, headers=world.root.headers(), json={"name": "x"}), 404)


async def test_delete_tenant_deactivates_and_locks_members_out(client: Client, world: World) -> None:
    assert_error(await client.delete(f"/api/tenant/{world.tenant_a}", headers=world.admin_a.headers()), 403)
    response = await client.delete(f"/api/tenant/{world.tenant_a}", headers=world.root.headers())
    assert response.status_code == 204
    users = await client.get("/api/user/tenant-users", headers=world.admin_a.headers())
    assert_error(users, 403)
    assert (await client.get("/api/tenant/mine", headers=world.admin_a.headers())).json() == []
    restored = await client.patch(
        f"/api/tenant/{world.tenant_a}", headers=world.root.headers(), json={"isActive": True}
    )
    assert restored.json()["isActive"] is True
    users = await client.get("/api/user/tenant-users", headers=world.admin_a.headers())
    assert users.status_code == 200
