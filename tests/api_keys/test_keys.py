"""API keys: create (subset rule), list, revoke; key authentication (checksum pre-check, cache,
revocation and expiry on the next request)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import World, add_user, assert_error
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.auth import api_keys
from app.auth import middleware as auth_middleware

Client = AsyncTestClient[Litestar]
URL = "/api/api-keys"


async def create_key(client: Client, world: World, **body: Any) -> dict[str, Any]:
    payload = {"name": "integration", "permissions": ["view_activities", "CREATE_ACTIVITY"], **body}
    response = await client.post(URL, headers=world.admin_a.headers(), json=payload)
    assert response.status_code == 201, response.text
    return response.json()


async def key_status(client: Client, key: str, **headers: str) -> int:
    """A valid key on a JWT-only route is authenticated, then refused (403); a bad key is 401."""
    return (await client.get(URL, headers={"x-api-key": key, **headers})).status_code


async def test_create_key(client: Client, world: World) -> None:
    body = await create_key(client, world)
    assert set(body) == {
        "id", "name", "keyPrefix", "plaintextKey", "key", "userId", "tenantId", "isActive",
        "permissions", "expiresAt", "lastUsedAt", "createdAt", "revokedAt",
    }  # fmt: skip
    assert body["permissions"] == ["VIEW_ACTIVITIES", "CREATE_ACTIVITY"]
    assert body["plaintextKey"] == body["key"] and api_keys.is_well_formed(body["key"])
    assert body["keyPrefix"] == body["key"][:15] and body["keyPrefix"].startswith("rtn_sk_")
    assert body["tenantId"] == str(world.tenant_a) and body["userId"] == str(world.admin_a.user_id)
    assert body["isActive"] is True and body["revokedAt"] is None and body["lastUsedAt"] is None


async def test_create_key_validation_and_subset_rule(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    assert_error(
        await client.post(URL, headers=headers, json={"name": "k", "permissions": ["CREATE_TENANT"]}), 403
    )
    assert_error(await client.post(URL, headers=headers, json={"name": "k", "permissions": ["FLY"]}), 400)
    assert_error(await client.post(URL, headers=headers, json={"name": "k", "permissions": []}), 400)
    assert_error(
        await client.post(URL, headers=headers, json={"name": "", "permissions": ["VIEW_USERS"]}), 400
    )
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    expired = {"name": "k", "permissions": ["VIEW_USERS"], "expiresAt": past}
    assert_error(await client.post(URL, headers=headers, json=expired), 400)
    extra = {"name": "k", "permissions": ["VIEW_USERS"], "tenantId": str(world.tenant_b)}
    assert_error(await client.post(URL, headers=headers, json=extra), 400)
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    assert_error(
        await client.post(URL, headers=fde.headers(), json={"name": "k", "permissions": ["VIEW_USERS"]}), 403
    )
    assert_error(await client.get(URL, headers=fde.headers()), 403)


async def test_list_keys_newest_first_without_secrets(client: Client, world: World) -> None:
    first = await create_key(client, world, name="first")
    second = await create_key(client, world, name="second")
    listed = await client.get(URL, headers=world.admin_a.headers())
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [second["id"], first["id"]]
    assert "plaintextKey" not in listed.text and first["key"] not in listed.text
    assert all("key" not in k and "keyDigest" not in k for k in listed.json())
    assert (await client.get(URL, headers=world.admin_b.headers())).json() == []


async def test_revoke(client: Client, world: World) -> None:
    created = await create_key(client, world)
    url = f"{URL}/{created['id']}/revoke"
    assert_error(await client.post(url, headers=world.admin_b.headers()), 404)
    assert_error(await client.post(f"{URL}/{uuid.uuid4()}/revoke", headers=world.admin_a.headers()), 404)
    assert_error(await client.post(f"{URL}/not-a-uuid/revoke", headers=world.admin_a.headers()), 400)
    response = await client.post(url, headers=world.admin_a.headers())
    assert response.status_code == 200
    assert response.json() == {"message": "API key revoked successfully"}
    assert_error(await client.post(url, headers=world.admin_a.headers()), 400)
    listed = (await client.get(URL, headers=world.admin_a.headers())).json()
    assert listed[0]["isActive"] is False and listed[0]["revokedAt"] is not None


async def test_key_authenticates_and_is_refused_on_user_routes(client: Client, world: World) -> None:
    key = (await create_key(client, world))["key"]
    response = await client.get(URL, headers={"x-api-key": key})
    assert "user token" in assert_error(response, 403)["message"]
    assert await key_status(client, key, **{"x-tenant-id": str(world.tenant_b)}) == 403
    listed = (await client.get(URL, headers=world.admin_a.headers())).json()
    assert listed[0]["lastUsedAt"] is not None


async def test_revoked_key_is_refused_on_the_next_request(client: Client, world: World) -> None:
    created = await create_key(client, world)
    assert await key_status(client, created["key"]) == 403  # cached now
    await client.post(f"{URL}/{created['id']}/revoke", headers=world.admin_a.headers())
    assert await key_status(client, created["key"]) == 401


async def test_expired_key_is_refused(client: Client, world: World) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    key = (await create_key(client, world, expiresAt=soon))["key"]
    assert await key_status(client, key) == 403
    await asyncio.sleep(3.2)
    assert await key_status(client, key) == 401


async def test_removed_creator_disables_key(client: Client, world: World) -> None:
    key = (await create_key(client, world))["key"]
    await client.delete(
        f"/api/user/{world.admin_a.user_id}/tenant", headers=world.root.headers(world.tenant_a)
    )
    assert await key_status(client, key) == 401


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every key lookup that reaches the database."""
    calls: list[bytes] = []
    real = auth_middleware._fetch

    async def spy(state: Any, query: Any, **params: Any) -> Any:
        if "digest" in params:
            calls.append(params["digest"])
        return await real(state, query, **params)

    monkeypatch.setattr(auth_middleware, "_fetch", spy)
    return calls


async def test_malformed_keys_never_reach_the_database(client: Client, lookups: list[bytes]) -> None:
    good = api_keys.generate()
    body = good[len(api_keys.KEY_PREFIX) :]
    flipped = body[:-1] + ("0" if body[-1] != "0" else "1")
    for bad in (
        "",
        "rtn_sk_",
        "rtn_pk_" + body,
        api_keys.KEY_PREFIX + flipped,
        api_keys.KEY_PREFIX + body.upper(),
        good + "0",
        good[:-1],
        " " + good,
        "x" * 10_000,
    ):
        assert await key_status(client, bad) == 401
    assert lookups == []
    assert await key_status(client, good) == 401  # well formed but unknown: one lookup
    assert len(lookups) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_key_format_checker_accepts_only_generated_keys(candidate: str) -> None:
    assert api_keys.is_well_formed(candidate) is False or candidate.startswith(api_keys.KEY_PREFIX)
    assert api_keys.is_well_formed(api_keys.generate())


async def test_per_key_rate_limit(client: Client, app: Litestar, world: World) -> None:
    from app.ratelimit import TokenBucket

    key = (await create_key(client, world))["key"]
    services = app.state.services
    saved = services.key_limiter
    services.key_limiter = TokenBucket(0.5, 2)
    try:
        statuses = [await key_status(client, key) for _ in range(3)]
        assert statuses == [403, 403, 429]
        limited = await client.get(URL, headers={"x-api-key": key})
        assert_error(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
    finally:
        services.key_limiter = saved


async def test_a_refused_key_is_answered_from_memory_when_repeated(
    client: Client, lookups: list[bytes]
) -> None:
    """Issue 17, item 1: a well-formed unknown key costs one lookup, not one per request."""
    unknown = api_keys.generate()
    assert [await key_status(client, unknown) for _ in range(5)] == [401] * 5
    assert len(lookups) == 1


async def test_random_keys_from_one_client_are_throttled(
    client: Client, app: Litestar, world: World, lookups: list[bytes]
) -> None:
    """Lookups that find no usable key count against the client's address (429 with Retry-After once
    spent); a key already verified keeps working, since it needs no lookup."""
    from app.ratelimit import TokenBucket

    good = (await create_key(client, world))["key"]
    assert await key_status(client, good) == 403  # verified, cached (and its lookup's token given back)
    services = app.state.services
    saved = services.key_failures_by_ip
    services.key_failures_by_ip = TokenBucket(0.01, 2)
    try:
        statuses = [await key_status(client, api_keys.generate()) for _ in range(4)]
        assert statuses == [401, 401, 429, 429]
        limited = await client.get(URL, headers={"x-api-key": api_keys.generate()})
        assert_error(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert await key_status(client, good) == 403
    finally:
        services.key_failures_by_ip = saved
    assert len(lookups) == 3  # the good key once, two random ones; the throttled ones never


async def test_the_tenant_limit_holds_across_its_keys(client: Client, app: Litestar, world: World) -> None:
    """Issue 17, item 1: more keys buy no more capacity; another tenant's keys are not affected."""
    from app.ratelimit import TokenBucket

    first, second = (await create_key(client, world))["key"], (await create_key(client, world))["key"]
    payload = {"name": "b", "permissions": ["VIEW_ACTIVITIES"]}
    other = await client.post(URL, headers=world.admin_b.headers(), json=payload)
    services = app.state.services
    saved = services.tenant_limiter
    services.tenant_limiter = TokenBucket(0.01, 3)
    try:
        statuses = [await key_status(client, k) for k in (first, second, first, second)]
        assert statuses == [403, 403, 403, 429]
        limited = await client.get(URL, headers={"x-api-key": second})
        assert_error(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert await key_status(client, other.json()["key"]) == 403
    finally:
        services.tenant_limiter = saved
