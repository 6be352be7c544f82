"""JWT negative suite (RFC 8725), refresh rotation with reuse detection, logout, login."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from conftest import PASSWORD, SUPER_EMAIL, World, assert_error, create_super_admin, login
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.config import Settings

Client = AsyncTestClient[Litestar]


def claims(user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + 300,
        "iss": "reten",
        "aud": "reten-api",
        "jti": str(uuid.uuid4()),
        "typ": "access",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


async def call_me(client: Client, token: str) -> Any:
    return await client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"})


async def test_forged_token_with_the_right_secret_works(
    client: Client, world: World, settings: Settings
) -> None:
    token = jwt.encode(claims(world.root.user_id), settings.jwt_secret, algorithm="HS256")
    assert (await call_me(client, token)).status_code == 200


@pytest.mark.parametrize(
    "case",
    [
        "alg_none",
        "hs512",
        "wrong_secret",
        "expired",
        "not_yet_valid",
        "wrong_iss",
        "wrong_aud",
        "refresh_typ_with_access_aud",
        "sub_not_uuid",
        "unknown_user",
        "garbage",
    ],
)
async def test_bad_tokens_are_401(client: Client, world: World, settings: Settings, case: str) -> None:
    secret = settings.jwt_secret
    assert secret is not None
    uid = world.root.user_id
    now = int(time.time())
    token = {
        "alg_none": lambda: jwt.encode(claims(uid), None, algorithm="none"),
        "hs512": lambda: jwt.encode(claims(uid), secret, algorithm="HS512"),
        "wrong_secret": lambda: jwt.encode(claims(uid), "another-secret-" + "q" * 40, algorithm="HS256"),
        "expired": lambda: jwt.encode(claims(uid, iat=now - 600, exp=now - 120), secret, algorithm="HS256"),
        "not_yet_valid": lambda: jwt.encode(claims(uid, nbf=now + 300), secret, algorithm="HS256"),
        "wrong_iss": lambda: jwt.encode(claims(uid, iss="evil"), secret, algorithm="HS256"),
        "wrong_aud": lambda: jwt.encode(claims(uid, aud="other"), secret, algorithm="HS256"),
        "refresh_typ_with_access_aud": lambda: jwt.encode(
            claims(uid, typ="refresh"), secret, algorithm="HS256"
        ),
        "sub_not_uuid": lambda: jwt.encode(claims(uid, sub="root"), secret, algorithm="HS256"),
        "unknown_user": lambda: jwt.encode(claims(uuid.uuid4()), secret, algorithm="HS256"),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    assert_error(await call_me(client, token), 401)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "iss", "aud", "jti"])
async def test_missing_required_claim_is_401(
    client: Client, world: World, settings: Settings, missing: str
) -> None:
    token = jwt.encode(claims(world.root.user_id, **{missing: None}), settings.jwt_secret, algorithm="HS256")
    assert_error(await call_me(client, token), 401)


async def test_refresh_token_is_not_an_access_token(client: Client, world: World) -> None:
    assert_error(await call_me(client, world.root.cookies["refreshToken"]), 401)


async def test_scheme_and_header_checks(client: Client, world: World) -> None:
    assert_error(await client.get("/api/auth/me"), 401)
    basic = await client.get("/api/auth/me", headers={"authorization": f"Basic {world.root.token}"})
    assert_error(basic, 401)
    no_tenant = await client.get(
        "/api/user/tenant-users", headers={"authorization": f"Bearer {world.admin_a.token}"}
    )
    assert_error(no_tenant, 400)
    bad_tenant = await client.get(
        "/api/user/tenant-users",
        headers={"authorization": f"Bearer {world.admin_a.token}", "x-tenant-id": "nope"},
    )
    assert_error(bad_tenant, 400)
    assert_error(
        await client.get("/api/user/tenant-users", headers=world.admin_a.headers(world.tenant_b)), 403
    )
    # SUPER_ADMIN may act in any existing tenant, not in one that does not exist
    assert (
        await client.get("/api/user/tenant-users", headers=world.root.headers(world.tenant_b))
    ).status_code == 200
    assert_error(await client.get("/api/user/tenant-users", headers=world.root.headers(uuid.uuid4())), 403)


async def test_access_token_lifetime(world: World) -> None:
    decoded = jwt.decode(world.root.token, options={"verify_signature": False})
    assert decoded["exp"] - decoded["iat"] <= 900
    assert jwt.get_unverified_header(world.root.token)["alg"] == "HS256"


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"refreshToken={token}"}


async def test_refresh_rotation_and_reuse_detection(client: Client, world: World) -> None:
    client.cookies.clear()
    first = world.admin_a.cookies["refreshToken"]
    rotated = await client.post("/api/auth/refresh", headers=_cookie(first))
    assert rotated.status_code == 200, rotated.text
    assert set(rotated.json()) == {"accessToken"}
    second = rotated.cookies["refreshToken"]
    assert second and second != first
    assert (await call_me(client, rotated.json()["accessToken"])).status_code == 200
    client.cookies.clear()
    # the old token again: reuse -> 401, and the whole family is revoked (the newest fails too)
    assert_error(await client.post("/api/auth/refresh", headers=_cookie(first)), 401)
    client.cookies.clear()
    assert_error(await client.post("/api/auth/refresh", headers=_cookie(second)), 401)


async def test_refresh_cookie_attributes(client: Client, settings: Settings) -> None:
    await create_super_admin(settings)
    response = await client.post("/api/auth/login", json={"identifier": SUPER_EMAIL, "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/auth" in cookie
    assert "max-age=604800" in cookie


async def test_logout_revokes_server_side(client: Client, world: World) -> None:
    client.cookies.clear()
    token = world.admin_a.cookies["refreshToken"]
    response = await client.post("/api/auth/logout", headers=_cookie(token))
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    client.cookies.clear()
    assert_error(await client.post("/api/auth/refresh", headers=_cookie(token)), 401)
    assert (await client.post("/api/auth/logout")).status_code == 200
    client.cookies.clear()
    assert_error(await client.post("/api/auth/refresh"), 401)


async def test_password_change_revokes_refresh_tokens(client: Client, world: World) -> None:
    client.cookies.clear()
    token = world.admin_a.cookies["refreshToken"]
    body = {"currentPassword": PASSWORD, "newPassword": "a-new-password"}
    assert (
        await client.post("/api/auth/reset-my-password", headers=world.admin_a.headers(), json=body)
    ).status_code == 200
    client.cookies.clear()
    assert_error(await client.post("/api/auth/refresh", headers=_cookie(token)), 401)


async def test_login_failures_look_the_same(client: Client, world: World) -> None:
    wrong = await client.post(
        "/api/auth/login", json={"identifier": "admin@a.test", "password": "wrong-password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"identifier": "nobody@a.test", "password": "wrong-password"}
    )
    assert assert_error(wrong, 401) == assert_error(unknown, 401)
    assert_error(await client.post("/api/auth/login", json={"identifier": "a", "password": "short"}), 400)
    extra = {"identifier": "admin@a.test", "password": PASSWORD, "role": "SUPER_ADMIN"}
    assert_error(await client.post("/api/auth/login", json=extra), 400)
    by_case = await client.post("/api/auth/login", json={"identifier": "ADMIN@A.TEST", "password": PASSWORD})
    assert by_case.status_code == 200


async def test_failed_logins_are_throttled_per_identifier_and_ip(
    client: Client, app: Litestar, world: World
) -> None:
    services = app.state.services
    saved = services.login_failures
    from app.ratelimit import TokenBucket

    services.login_failures = TokenBucket(1 / 60, 2)
    try:
        body = {"identifier": "admin@a.test", "password": "wrong-password"}
        statuses = [(await client.post("/api/auth/login", json=body)).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        limited = await client.post("/api/auth/login", json=body)
        assert_error(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        other = await login(client, "admin@b.test")  # another identifier is unaffected
        assert other.token
    finally:
        services.login_failures = saved
