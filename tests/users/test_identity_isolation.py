"""Roles per membership (CONTRACT.md §2, issue 13): nothing an actor of tenant A does to a user shared with
tenant B changes what that user is or may do in B. The two takeovers of the security review are named
regression tests (they passed as exploits when roles lived on the global user row)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from conftest import PASSWORD, Actor, World, add_user, assert_error, login
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.errors import IDENTIFIER_TAKEN
from app.ratelimit import TokenBucket

Client = AsyncTestClient[Litestar]
KEYS = "/api/api-keys"


async def link(client: Client, root: Actor, tenant: uuid.UUID, email: str, roles: list[str]) -> None:
    """A SUPER_ADMIN adds an existing account to ``tenant`` with ``roles`` (the one way to share a user
    besides tenant setup)."""
    response = await client.post(
        "/api/user",
        headers=root.headers(tenant),
        json={"email": email, "password": "ignored-for-links", "firstName": "Ignored", "roles": roles},
    )
    assert response.status_code == 201, response.text


async def me(client: Client, actor: Actor, tenant: uuid.UUID | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {actor.token}"}
    if tenant is not None:
        headers["x-tenant-id"] = str(tenant)
    response = await client.get("/api/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_key(
    client: Client, actor: Actor, permissions: list[str], tenant: uuid.UUID | None = None
) -> dict[str, Any]:
    body = {"name": "k", "permissions": permissions}
    response = await client.post(KEYS, headers=actor.headers(tenant), json=body)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def shared_user(client: Client, world: World) -> Actor:
    """U: VIEWER of A (created by A's admin), FDE of B (linked by the super admin)."""
    user = await add_user(client, world.admin_a, "shared@a.test", ["VIEWER"])
    await link(client, world.root, world.tenant_b, "shared@a.test", ["FDE"])
    return user


async def b_view(client: Client, world: World, user: Actor) -> dict[str, Any]:
    """Everything tenant B sees of the user, as bytes where B reads bytes."""
    listed = await client.get("/api/user/tenant-users", headers=world.admin_b.headers())
    entry = next(u for u in listed.json()["data"] if u["id"] == str(user.user_id))
    fresh = await client.post("/api/auth/login", json={"identifier": user.email, "password": PASSWORD})
    view: dict[str, Any] = {
        "entry": json.dumps(entry, sort_keys=True),
        "login": fresh.status_code,
        "active": fresh.status_code == 200,
    }
    if fresh.status_code == 200:
        token = fresh.json()["accessToken"]
        headers = {"authorization": f"Bearer {token}", "x-tenant-id": str(world.tenant_b)}
        me_b = await client.get("/api/auth/me", headers=headers)
        view["roles_in_b"] = me_b.json()["roles"]
        view["users_in_b"] = (await client.get("/api/user/tenant-users", headers=headers)).status_code
        view["activities_in_b"] = (await client.get("/api/activities", headers=headers)).status_code
    return view


# ---------------------------------------------------------------------------------------------------
# The two takeovers of the security review (F1, F2), as named regressions.
# ---------------------------------------------------------------------------------------------------
async def setup_c(client: Client, world: World, admin_email: str) -> uuid.UUID:
    """A SUPER_ADMIN sets up tenant C naming an existing account as its admin (with another password,
    which must not replace the account's)."""
    response = await client.post(
        "/api/tenant/setup",
        headers=world.root.headers(),
        json={
            "name": "C",
            "slug": "tenant-c",
            "adminEmail": admin_email,
            "adminPassword": "another-password",
            "adminFirstName": "S",
            "adminLastName": "C",
        },
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def shared_by_setup(client: Client, world: World) -> tuple[Actor, uuid.UUID]:
    """The review's path to a shared user, which exists in every revision of the API: U is a VIEWER of A;
    a SUPER_ADMIN sets up tenant C with U's email (U becomes its ADMIN), then makes U a VIEWER there."""
    user = await add_user(client, world.admin_a, "shared@a.test", ["VIEWER"])
    tenant_c = await setup_c(client, world, user.email)
    url = f"/api/user/{user.user_id}/roles"
    demoted = await client.put(url, headers=world.root.headers(tenant_c), json={"roles": ["VIEWER"]})
    assert demoted.status_code == 200, demoted.text
    return user, tenant_c


async def test_regression_admin_of_a_cannot_reset_the_password_of_a_user_shared_with_c(
    client: Client, world: World
) -> None:
    user, tenant_c = await shared_by_setup(client, world)
    body = {"userId": str(user.user_id), "newPassword": "taken-over-password"}
    refused = await client.post("/api/auth/reset-user-password", headers=world.admin_a.headers(), json=body)
    message = assert_error(refused, 403)["message"]
    assert "another tenant" in message and "tenant-c" not in message.lower()
    takeover = await client.post(
        "/api/auth/login", json={"identifier": user.email, "password": "taken-over-password"}
    )
    assert_error(takeover, 401)
    real = await login(client, user.email)  # the real password still works, and C is still U's alone
    assert (await client.get("/api/activities", headers=real.headers(tenant_c))).status_code == 200


async def test_regression_roles_set_in_a_do_not_apply_in_c(client: Client, world: World) -> None:
    user, tenant_c = await shared_by_setup(client, world)
    url = f"/api/user/{user.user_id}/roles"
    response = await client.put(url, headers=world.admin_a.headers(), json={"roles": ["FDE"]})
    assert response.status_code == 200 and response.json()["roles"] == ["FDE"]
    fresh = await login(client, user.email)
    assert (await me(client, fresh, world.tenant_a))["roles"] == ["FDE"]
    assert (await me(client, fresh, tenant_c))["roles"] == ["VIEWER"]
    # FDE may create commerces; in C the user is still a VIEWER and may not
    commerce = {"external_id": "c-1", "name": "Store"}
    assert_error(await client.post("/api/commerces", headers=fresh.headers(tenant_c), json=commerce), 403)


async def test_roles_set_in_a_leave_b_unchanged_byte_for_byte(client: Client, world: World) -> None:
    user = await shared_user(client, world)
    before = await b_view(client, world, user)
    assert before["roles_in_b"] == ["FDE"]
    url = f"/api/user/{user.user_id}/roles"
    for roles in (["FDE"], ["VIEWER"]):
        response = await client.put(url, headers=world.admin_a.headers(), json={"roles": roles})
        assert response.status_code == 200
        assert (await me(client, user, world.tenant_a))["roles"] == roles
        assert await b_view(client, world, user) == before


async def test_regression_setup_with_an_existing_email_grants_admin_in_the_new_tenant_only(
    client: Client, world: World
) -> None:
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    tenant_c = await setup_c(client, world, viewer.email)
    viewer = await login(client, "viewer@a.test")  # password unchanged
    viewer.tenant_id = world.tenant_a
    assert (await me(client, viewer, world.tenant_a))["roles"] == ["VIEWER"]
    assert (await me(client, viewer, tenant_c))["roles"] == ["ADMIN"]
    key = await client.post(KEYS, headers=viewer.headers(), json={"name": "x", "permissions": ["VIEW_USERS"]})
    assert_error(key, 403)
    assert_error(await client.get("/api/user/tenant-users", headers=viewer.headers()), 403)
    # A's admins still manage the user in A
    url = f"/api/user/{viewer.user_id}/roles"
    assert (
        await client.put(url, headers=world.admin_a.headers(), json={"roles": ["FDE"]})
    ).status_code == 200
    assert (await me(client, viewer, tenant_c))["roles"] == ["ADMIN"]


# ---------------------------------------------------------------------------------------------------
# Every identity route, called by A's ADMIN, A's FDE and an API key of A against the shared user.
# ---------------------------------------------------------------------------------------------------
async def test_nothing_done_in_a_changes_how_b_sees_a_shared_user(client: Client, world: World) -> None:
    user = await shared_user(client, world)
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    key = (await new_key(client, world.admin_a, ["UPDATE_USER", "RESET_USER_PASSWORD", "CREATE_USER"]))["key"]
    before = await b_view(client, world, user)
    assert before["login"] == 200 and before["roles_in_b"] == ["FDE"]
    assert before["users_in_b"] == 200 and before["activities_in_b"] == 200

    actors: list[tuple[str, dict[str, str]]] = [
        ("fde", fde.headers()),
        ("key", {"x-api-key": key}),
        ("admin", world.admin_a.headers()),  # last: its allowed calls change A
    ]
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PUT", f"/api/user/{user.user_id}/roles", {"roles": ["VIEWER"]}),
        ("PUT", f"/api/user/{user.user_id}/roles", {"roles": ["FDE"]}),
        ("POST", "/api/auth/reset-user-password", {"userId": str(user.user_id), "newPassword": "x" * 12}),
        (
            "POST",
            "/api/user",
            {"email": user.email, "password": "x" * 12, "firstName": "X", "roles": ["FDE"]},
        ),
        ("POST", "/api/user", {"email": "SHARED@A.TEST", "password": "x" * 12, "firstName": "X"}),
        ("DELETE", f"/api/user/{user.user_id}/tenant", None),
    ]
    seen: dict[tuple[str, str, str], int] = {}
    for name, headers in actors:
        for method, url, body in calls:
            response = await client.request(method, url, headers=headers, json=body)
            seen[(name, method, url)] = response.status_code
            assert response.status_code < 500, response.text
            assert await b_view(client, world, user) == before, (name, method, url)
    # The calls themselves answered what the model says.
    assert {seen[("fde", m, u)] for m, u, _ in calls} == {403}
    assert {seen[("key", m, u)] for m, u, _ in calls} == {403}  # user administration needs a person
    assert seen[("admin", "PUT", f"/api/user/{user.user_id}/roles")] == 200
    assert seen[("admin", "POST", "/api/auth/reset-user-password")] == 403
    assert seen[("admin", "POST", "/api/user")] == 409
    assert seen[("admin", "DELETE", f"/api/user/{user.user_id}/tenant")] == 204
    assert (await me(client, user))["memberships"] == [{"tenantId": str(world.tenant_b), "roles": ["FDE"]}]


async def test_a_caller_who_outranks_the_user_in_every_tenant_may_reset_its_password(
    client: Client, world: World
) -> None:
    user = await shared_user(client, world)
    await link(client, world.root, world.tenant_b, world.admin_a.email, ["ADMIN"])
    body = {"userId": str(user.user_id), "newPassword": "reset-by-admin-of-both"}
    response = await client.post("/api/auth/reset-user-password", headers=world.admin_a.headers(), json=body)
    assert response.status_code == 200, response.text
    assert (await login(client, user.email, "reset-by-admin-of-both")).token
    # a SUPER_ADMIN always may
    body = {"userId": str(user.user_id), "newPassword": "reset-by-root-123"}
    response = await client.post(
        "/api/auth/reset-user-password", headers=world.root.headers(world.tenant_b), json=body
    )
    assert response.status_code == 200, response.text


async def test_equal_rank_in_another_tenant_blocks_a_global_change(client: Client, world: World) -> None:
    user = await add_user(client, world.admin_a, "both@a.test", ["VIEWER"])
    await link(client, world.root, world.tenant_b, user.email, ["ADMIN"])
    await link(client, world.root, world.tenant_b, world.admin_a.email, ["ADMIN"])
    body = {"userId": str(user.user_id), "newPassword": "not-allowed-123"}
    response = await client.post("/api/auth/reset-user-password", headers=world.admin_a.headers(), json=body)
    assert "do not outrank" in assert_error(response, 403)["message"]


# ---------------------------------------------------------------------------------------------------
# me, and the hardening of the same review.
# ---------------------------------------------------------------------------------------------------
async def test_me_answers_the_roles_of_the_named_tenant_or_the_union(client: Client, world: World) -> None:
    user = await shared_user(client, world)
    assert (await me(client, user, world.tenant_a))["roles"] == ["VIEWER"]
    assert (await me(client, user, world.tenant_b))["roles"] == ["FDE"]
    whole = await me(client, user)
    assert whole["roles"] == ["FDE", "VIEWER"]
    assert sorted(whole["tenantIds"]) == sorted([str(world.tenant_a), str(world.tenant_b)])
    assert sorted(whole["memberships"], key=lambda m: m["roles"]) == [
        {"tenantId": str(world.tenant_b), "roles": ["FDE"]},
        {"tenantId": str(world.tenant_a), "roles": ["VIEWER"]},
    ]
    assert (await me(client, user, uuid.uuid4()))["roles"] == []
    bad = await client.get("/api/auth/me", headers={**user.headers(), "x-tenant-id": "not-a-uuid"})
    assert_error(bad, 400)
    assert (await me(client, world.root, world.tenant_a))["roles"] == ["SUPER_ADMIN"]
    assert (await me(client, world.admin_a))["roles"] == ["ADMIN"]


async def test_tenant_list_shows_only_tenants_the_user_administers(client: Client, world: World) -> None:
    await link(client, world.root, world.tenant_b, world.admin_a.email, ["VIEWER"])
    listed = await client.get("/api/tenant", headers={"authorization": f"Bearer {world.admin_a.token}"})
    assert [t["id"] for t in listed.json()] == [str(world.tenant_a)]
    other = await client.get(
        f"/api/tenant/{world.tenant_b}", headers={"authorization": f"Bearer {world.admin_a.token}"}
    )
    assert_error(other, 404)
    mine = await client.get("/api/tenant/mine", headers={"authorization": f"Bearer {world.admin_a.token}"})
    assert len(mine.json()) == 2


async def test_a_taken_email_or_username_gets_one_neutral_answer(client: Client, world: World) -> None:
    body = {"password": PASSWORD, "firstName": "N", "roles": ["VIEWER"]}
    by_email = await client.post(
        "/api/user", headers=world.admin_a.headers(), json={**body, "email": "admin@b.test"}
    )
    await add_user(client, world.admin_a, "named@a.test", ["VIEWER"])
    await client.post(
        "/api/user",
        headers=world.admin_a.headers(),
        json={**body, "email": "first@a.test", "username": "taken-name"},
    )
    by_username = await client.post(
        "/api/user",
        headers=world.admin_b.headers(),
        json={**body, "email": "fresh@b.test", "username": "TAKEN-NAME"},
    )
    same_tenant = await client.post(
        "/api/user", headers=world.admin_a.headers(), json={**body, "email": "named@a.test"}
    )
    answers = [assert_error(r, 409) for r in (by_email, by_username, same_tenant)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["message"] == IDENTIFIER_TAKEN
    listed = (await client.get("/api/user/tenant-users", headers=world.admin_a.headers())).json()
    assert "admin@b.test" not in {u["email"] for u in listed["data"]}  # nothing was linked
    assert (await login(client, "admin@b.test")).token  # and B's admin is untouched


async def test_a_super_admin_links_an_existing_account(client: Client, world: World) -> None:
    response = await client.post(
        "/api/user",
        headers=world.root.headers(world.tenant_a),
        json={"email": "ADMIN@B.TEST", "password": "not-used-12", "firstName": "Other", "roles": ["FDE"]},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == str(world.admin_b.user_id) and body["roles"] == ["FDE"]
    assert body["firstName"] == "Admin"  # the account as it is: names and password unchanged
    assert (await login(client, "admin@b.test")).token
    again = await client.post(
        "/api/user",
        headers=world.root.headers(world.tenant_a),
        json={"email": "admin@b.test", "password": "not-used-12", "firstName": "O", "roles": ["FDE"]},
    )
    assert assert_error(again, 409)["message"] == IDENTIFIER_TAKEN


async def test_a_username_cannot_look_like_an_email(client: Client, world: World) -> None:
    response = await client.post(
        "/api/user",
        headers=world.admin_a.headers(),
        json={"email": "u@a.test", "password": PASSWORD, "firstName": "U", "username": "admin@b.test"},
    )
    assert "username" in assert_error(response, 400)["message"]


async def test_reset_my_password_is_throttled(client: Client, app: Litestar, world: World) -> None:
    services = app.state.services
    saved = services.login_failures
    services.login_failures = TokenBucket(1 / 60, 2)
    try:
        headers = {"authorization": f"Bearer {world.admin_a.token}"}
        body = {"currentPassword": "wrong-password", "newPassword": "new-password-1"}
        url = "/api/auth/reset-my-password"
        statuses = [(await client.post(url, headers=headers, json=body)).status_code for _ in range(3)]
        assert statuses == [400, 400, 429]
        limited = await client.post(url, headers=headers, json=body)
        assert_error(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        other = {"authorization": f"Bearer {world.admin_b.token}"}  # another user is unaffected
        assert (await client.post(url, headers=other, json=body)).status_code == 400
    finally:
        services.login_failures = saved


# ---------------------------------------------------------------------------------------------------
# API keys: the creator's roles in the key's tenant, death on removal, ADMIN's view and revoke.
# ---------------------------------------------------------------------------------------------------
async def status(client: Client, key: str, method: str, url: str, body: Any = None) -> int:
    return (await client.request(method, url, headers={"x-api-key": key}, json=body)).status_code


async def test_key_permissions_follow_the_creator_in_the_keys_tenant_only(
    client: Client, world: World
) -> None:
    # admin_a is also ADMIN of B: its standing there must never lift a key of A.
    await link(client, world.root, world.tenant_b, world.admin_a.email, ["ADMIN"])
    key = (await new_key(client, world.admin_a, ["MANAGE_COMMERCES", "VIEW_ACTIVITIES"]))["key"]
    commerce = {"external_id": "c-1", "name": "Store"}
    assert await status(client, key, "POST", "/api/commerces", commerce) == 201
    demote = f"/api/user/{world.admin_a.user_id}/roles"
    response = await client.put(
        demote, headers=world.root.headers(world.tenant_a), json={"roles": ["VIEWER"]}
    )
    assert response.status_code == 200, response.text
    # at once on this process: the key now holds VIEW_ACTIVITIES only, whatever admin_a is in B
    assert await status(client, key, "POST", "/api/commerces", {**commerce, "external_id": "c-2"}) == 403
    assert await status(client, key, "GET", "/api/activities") == 200
    assert (await me(client, world.admin_a, world.tenant_b))["roles"] == ["ADMIN"]
    # a key whose creator holds none of its permissions any more is dead
    only_manage = (await new_key(client, world.admin_a, ["MANAGE_COMMERCES"], world.tenant_b))["key"]
    assert await status(client, only_manage, "POST", "/api/commerces", commerce) == 201
    response = await client.put(
        demote, headers=world.root.headers(world.tenant_b), json={"roles": ["VIEWER"]}
    )
    assert response.status_code == 200
    assert await status(client, only_manage, "GET", "/api/commerces") == 401


async def test_a_key_cannot_be_created_with_permissions_held_only_in_another_tenant(
    client: Client, world: World
) -> None:
    await link(client, world.root, world.tenant_b, world.admin_a.email, ["VIEWER"])
    in_b = await client.post(
        KEYS,
        headers=world.admin_a.headers(world.tenant_b),
        json={"name": "k", "permissions": ["VIEW_ACTIVITIES"]},
    )
    assert_error(in_b, 403)  # MANAGE_API_KEYS is A's, not B's
    assert (await new_key(client, world.admin_a, ["MANAGE_COMMERCES"]))["tenantId"] == str(world.tenant_a)


async def test_removing_the_creator_revokes_its_keys_for_good(client: Client, world: World) -> None:
    second = await add_admin(client, world, "second@a.test")
    key = await new_key(client, second, ["VIEW_ACTIVITIES"])
    assert await status(client, key["key"], "GET", "/api/activities") == 200
    removed = await client.delete(
        f"/api/user/{second.user_id}/tenant", headers=world.root.headers(world.tenant_a)
    )
    assert removed.status_code == 204
    assert await status(client, key["key"], "GET", "/api/activities") == 401
    await link(client, world.root, world.tenant_a, "second@a.test", ["ADMIN"])  # re-linked
    assert await status(client, key["key"], "GET", "/api/activities") == 401
    every = (await client.get(f"{KEYS}?all=true", headers=world.admin_a.headers())).json()
    listed = next(k for k in every if k["id"] == key["id"])
    assert listed["revokedAt"] is not None and listed["isActive"] is False


async def add_admin(client: Client, world: World, email: str) -> Actor:
    """A second ADMIN of tenant A (only a SUPER_ADMIN may grant ADMIN)."""
    response = await client.post(
        "/api/user",
        headers=world.root.headers(world.tenant_a),
        json={"email": email, "password": PASSWORD, "firstName": "Second", "roles": ["ADMIN"]},
    )
    assert response.status_code == 201, response.text
    actor = await login(client, email)
    actor.tenant_id = world.tenant_a
    return actor


async def test_an_admin_lists_and_revokes_every_key_of_its_tenant(client: Client, world: World) -> None:
    second = await add_admin(client, world, "second@a.test")
    theirs = await new_key(client, second, ["VIEW_ACTIVITIES"])
    mine = await new_key(client, world.admin_a, ["VIEW_ACTIVITIES"])
    await new_key(client, world.admin_b, ["VIEW_ACTIVITIES"])
    own = (await client.get(KEYS, headers=world.admin_a.headers())).json()
    assert [k["id"] for k in own] == [mine["id"]]
    every = (await client.get(f"{KEYS}?all=true", headers=world.admin_a.headers())).json()
    assert {k["id"] for k in every} == {mine["id"], theirs["id"]}
    assert {k["userId"] for k in every} == {str(world.admin_a.user_id), str(second.user_id)}
    assert await status(client, theirs["key"], "GET", "/api/activities") == 200  # cached now
    url = f"{KEYS}/{theirs['id']}/revoke"
    assert_error(await client.post(url, headers=world.admin_b.headers()), 404)
    assert (await client.post(url, headers=world.admin_a.headers())).status_code == 200
    assert await status(client, theirs["key"], "GET", "/api/activities") == 401  # at once, same process


async def test_switching_a_tenant_off_refuses_its_cached_keys_at_once(client: Client, world: World) -> None:
    key = (await new_key(client, world.admin_a, ["VIEW_ACTIVITIES"]))["key"]
    assert await status(client, key, "GET", "/api/activities") == 200  # cached now
    deleted = await client.delete(
        f"/api/tenant/{world.tenant_a}", headers={"authorization": f"Bearer {world.root.token}"}
    )
    assert deleted.status_code == 204
    assert await status(client, key, "GET", "/api/activities") == 401


@pytest.mark.parametrize("role", ["FDE", "VIEWER"])
async def test_only_an_admin_may_list_every_key(client: Client, world: World, role: str) -> None:
    user = await add_user(client, world.admin_a, f"{role.lower()}@a.test", [role])
    assert_error(await client.get(f"{KEYS}?all=true", headers=user.headers()), 403)
