"""User administration in a tenant: list, create, roles, removal, password resets."""

from __future__ import annotations

import uuid

from conftest import PASSWORD, World, add_user, assert_error, login
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


async def test_list_tenant_users_paginates(client: Client, world: World) -> None:
    for i in range(3):
        await add_user(client, world.admin_a, f"v{i}@a.test", ["VIEWER"])
    page = await client.get("/api/user/tenant-users?page=2&limit=2", headers=world.admin_a.headers())
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["meta"] == {"page": 2, "limit": 2, "total": 4, "totalPages": 2}
    assert len(body["data"]) == 2
    assert set(body["data"][0]) == {"id", "email", "firstName", "lastName", "roles"}
    default = (await client.get("/api/user/tenant-users", headers=world.admin_a.headers())).json()
    assert default["meta"]["limit"] == 20
    per_page = await client.get("/api/user/tenant-users?per_page=1", headers=world.admin_a.headers())
    assert per_page.json()["meta"]["limit"] == 1


async def test_list_tenant_users_isolated_and_validated(client: Client, world: World) -> None:
    listed = (await client.get("/api/user/tenant-users", headers=world.admin_b.headers())).json()
    assert [u["email"] for u in listed["data"]] == ["admin@b.test"]
    too_big = await client.get("/api/user/tenant-users?per_page=101", headers=world.admin_a.headers())
    assert_error(too_big, 400)
    assert_error(await client.get("/api/user/tenant-users?page=0", headers=world.admin_a.headers()), 400)
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    assert_error(await client.get("/api/user/tenant-users", headers=viewer.headers()), 403)


async def test_create_user(client: Client, world: World) -> None:
    body = {"email": "new@a.test", "password": PASSWORD, "firstName": "New", "lastName": "User"}
    response = await client.post("/api/user", headers=world.admin_a.headers(), json=body)
    assert response.status_code == 201, response.text
    assert response.json()["roles"] == ["VIEWER"]
    assert_error(await client.post("/api/user", headers=world.admin_a.headers(), json=body), 409)
    upper = {**body, "email": "NEW@A.TEST"}
    assert_error(await client.post("/api/user", headers=world.admin_a.headers(), json=upper), 409)
    for bad in ({"email": "x"}, {"password": "short"}, {"roles": ["KING"]}, {"tenantId": "x"}):
        assert_error(
            await client.post("/api/user", headers=world.admin_a.headers(), json={**body, **bad}), 400
        )
    # An ADMIN cannot create an ADMIN (same level) or a SUPER_ADMIN.
    for roles in (["ADMIN"], ["SUPER_ADMIN"]):
        response = await client.post(
            "/api/user", headers=world.admin_a.headers(), json={**body, "email": "e@a.test", "roles": roles}
        )
        assert_error(response, 403)
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    response = await client.post("/api/user", headers=fde.headers(), json={**body, "email": "z@a.test"})
    assert_error(response, 403)


async def test_update_roles(client: Client, world: World) -> None:
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    url = f"/api/user/{viewer.user_id}/roles"
    response = await client.put(url, headers=world.admin_a.headers(), json={"roles": ["fde", "VIEWER"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": str(viewer.user_id), "roles": ["FDE", "VIEWER"]}
    # takes effect at once: the FDE now may list users
    assert (await client.get("/api/user/tenant-users", headers=viewer.headers())).status_code == 200
    assert_error(await client.put(url, headers=world.admin_a.headers(), json={"roles": ["ADMIN"]}), 403)
    assert_error(await client.put(url, headers=world.admin_a.headers(), json={"roles": []}), 400)
    assert_error(await client.put(url, headers=world.admin_a.headers(), json={"roles": ["BOSS"]}), 400)
    # same level: an ADMIN cannot touch another ADMIN; cross-tenant user is 404
    other_admin = f"/api/user/{world.admin_b.user_id}/roles"
    assert_error(await client.put(other_admin, headers=world.admin_a.headers(), json={"roles": ["FDE"]}), 404)
    root_url = f"/api/user/{world.root.user_id}/roles"
    assert_error(await client.put(root_url, headers=world.admin_a.headers(), json={"roles": ["FDE"]}), 404)
    missing = f"/api/user/{uuid.uuid4()}/roles"
    assert_error(await client.put(missing, headers=world.admin_a.headers(), json={"roles": ["FDE"]}), 404)
    assert_error(await client.put(url, headers=viewer.headers(), json={"roles": ["VIEWER"]}), 403)


async def test_same_level_is_forbidden(client: Client, world: World) -> None:
    # the super admin makes a second ADMIN in tenant A; admin A may not change it
    second = await client.post(
        "/api/user",
        headers=world.root.headers(world.tenant_a),
        json={"email": "admin2@a.test", "password": PASSWORD, "firstName": "A", "roles": ["ADMIN"]},
    )
    assert second.status_code == 201, second.text
    url = f"/api/user/{second.json()['id']}/roles"
    response = await client.put(url, headers=world.admin_a.headers(), json={"roles": ["VIEWER"]})
    assert "same or higher" in assert_error(response, 403)["message"]


async def test_remove_user_from_tenant(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    assert (await client.get("/api/user/tenant-users", headers=fde.headers())).status_code == 200
    url = f"/api/user/{fde.user_id}/tenant"
    assert_error(await client.delete(url, headers=world.admin_b.headers()), 404)
    assert (await client.delete(url, headers=world.admin_a.headers())).status_code == 204
    assert_error(await client.delete(url, headers=world.admin_a.headers()), 404)
    # membership is checked on every request: the still-valid token is refused in tenant A at once
    assert_error(await client.get("/api/user/tenant-users", headers=fde.headers()), 403)
    assert (await client.get("/api/auth/me", headers=fde.headers())).json()["tenantIds"] == []
    other = await add_user(client, world.admin_a, "fde2@a.test", ["FDE"])
    admin_url = f"/api/user/{world.admin_a.user_id}/tenant"
    assert_error(await client.delete(admin_url, headers=other.headers()), 403)


async def test_reset_user_password(client: Client, world: World) -> None:
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    body = {"userId": str(viewer.user_id), "newPassword": "brand-new-password"}
    response = await client.post("/api/auth/reset-user-password", headers=world.admin_a.headers(), json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Password reset successfully"}
    assert_error(
        await client.post("/api/auth/login", json={"identifier": "viewer@a.test", "password": PASSWORD}), 401
    )
    await login(client, "viewer@a.test", "brand-new-password")
    cross = {"userId": str(world.admin_b.user_id), "newPassword": "brand-new-password"}
    assert_error(
        await client.post("/api/auth/reset-user-password", headers=world.admin_a.headers(), json=cross), 404
    )
    upward = {"userId": str(world.admin_a.user_id), "newPassword": "brand-new-password"}
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    assert_error(await client.post("/api/auth/reset-user-password", headers=fde.headers(), json=upward), 403)
    short = {"userId": str(viewer.user_id), "newPassword": "short"}
    assert_error(
        await client.post("/api/auth/reset-user-password", headers=world.admin_a.headers(), json=short), 400
    )


async def test_reset_my_password(client: Client, world: World) -> None:
    url = "/api/auth/reset-my-password"
    wrong = {"currentPassword": "not-my-password", "newPassword": "another-password"}
    assert_error(await client.post(url, headers=world.admin_a.headers(), json=wrong), 400)
    good = {"currentPassword": PASSWORD, "newPassword": "another-password"}
    response = await client.post(url, headers=world.admin_a.headers(), json=good)
    assert response.status_code == 200 and response.json()["message"] == "Password reset successfully"
    await login(client, "admin@a.test", "another-password")
    assert_error(await client.post(url, json=good), 401)


async def test_me(client: Client, world: World) -> None:
    me = (await client.get("/api/auth/me", headers=world.root.headers())).json()
    assert set(me) == {"id", "email", "firstName", "lastName", "tenantIds", "roles", "memberships"}
    assert me["roles"] == ["SUPER_ADMIN"] and me["memberships"] == []
    assert me["id"] == str(world.root.user_id)
