"""CLIENT_HOOK calls signed as Standard Webhooks 1.0 does, checked as the tenant's hook would (the
reference library on what a loopback hook got): each CLIENT_HOOK policy's own secret, shown once when the
policy becomes CLIENT_HOOK, a ``webhook-id`` new on every call, rotation with 24 h of overlap, secrets
never listed and stored as ciphertext bound to their row."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import asyncpg
import pytest
from conftest import TEST_KEY_RING, World, assert_error
from signatures import refused, rotated_only_by_managers, signatures, verify

from activities.helpers import Client, commerce, create_activity, ok
from app.activities.hooks import HOOK_TIMEOUT, HookCaller
from app.activities.resolution import Context
from app.crypto import CredentialsError, KeyRing
from app.db import queries
from app.loadtest.receiver import Receiver
from app.outbound import signing
from app.outbound.addresses import parse_networks
from app.outbound.http import GuardedClient

POLICIES = "/api/activity-config/attribute-policies"
DAY = 24 * 3600
LOOPBACK = parse_networks(["127.0.0.0/8"])


async def _key_id(client: Client, actor: Any, key: str = "promotions") -> str:
    keys = await ok(client, actor, "GET", "/api/activity-config/attribute-keys")
    return str(next(k["id"] for k in keys if k["key"] == key))


async def _policy(
    client: Client, actor: Any, hook_url: str | None, strategy: str = "UPFRONT"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "attribute_key_id": await _key_id(client, actor),
        "resolution_strategy": strategy,
        "resolver_type": "CLIENT_HOOK" if hook_url else "INTERNAL_SERVICE",
    }
    if hook_url:
        body["hook_url"] = hook_url
    return await ok(client, actor, "POST", POLICIES, json=body)


async def _stored(pool: asyncpg.Pool, tenant: uuid.UUID, policy_id: str) -> Any:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        return await conn.fetchrow(
            "select hook_secret, hook_secret_previous, hook_secret_previous_until"
            " from app.attribute_policies where id = $1",
            uuid.UUID(policy_id),
        )


def _raw(secret: str) -> bytes:
    assert secret.startswith("whsec_"), secret
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


async def test_a_hook_call_verifies_with_the_policys_secret(client: Client, world: World) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"value": "2x1"}') as hook:
        policy = await _policy(client, actor, hook.url + "/hook")
        store = await commerce(client, actor)
        first = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
        await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert first["status"] == "READY"
    secret = policy["hookSecret"]
    assert len(_raw(secret)) == 32
    one, two = hook.requests
    assert verify(secret, one)["activity"]["id"] == first["id"]
    verify(secret, two)
    assert len(signatures(one)) == 1
    ids = [r.headers["webhook-id"] for r in (one, two)]
    assert all(i.startswith("msg_") for i in ids) and ids[0] != ids[1]  # a query: new id per call
    assert abs(int(one.headers["webhook-timestamp"]) - one.at) <= 2
    other = await _policy(client, world.admin_b, "http://127.0.0.1:9/hook")  # tenant B's own secret
    assert other["hookSecret"] != secret
    assert "No matching signature" in refused(other["hookSecret"], one)


async def test_the_secret_is_made_when_a_policy_becomes_client_hook_and_shown_then_only(
    client: Client, world: World, app_pool: asyncpg.Pool, caplog: Any
) -> None:
    actor = world.admin_a
    caplog.set_level("DEBUG")
    made = await _policy(client, actor, "http://127.0.0.1:9/hook")
    first = made["hookSecret"]
    stored = await _stored(app_pool, actor.tenant_id, made["id"])
    # Saved again as CLIENT_HOOK (another URL): the secret stays, and is not shown.
    again = await _policy(client, actor, "http://127.0.0.1:9/hook/v2", "ON_DISPATCH")
    assert again["id"] == made["id"] and "hookSecret" not in again
    assert await _stored(app_pool, actor.tenant_id, made["id"]) == stored
    # No longer CLIENT_HOOK: the secret goes; CLIENT_HOOK again: a new one, shown once.
    plain = await _policy(client, actor, None)
    assert "hookSecret" not in plain
    assert (await _stored(app_pool, actor.tenant_id, made["id"]))["hook_secret"] is None
    back = await _policy(client, actor, "http://127.0.0.1:9/hook")
    assert back["id"] == made["id"] and back["hookSecret"] != first
    listed = await client.get(POLICIES, headers=actor.headers())
    for text in (listed.text, str(again), str(plain), caplog.text):
        assert "hookSecret" not in text
        for secret in (first, back["hookSecret"]):
            assert secret.removeprefix("whsec_") not in text
    assert [set(p) for p in listed.json()] == [set(again)]


async def test_the_stored_secret_is_ciphertext_bound_to_its_row(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    policy = await _policy(client, actor, "http://127.0.0.1:9/hook")
    row = await _stored(app_pool, actor.tenant_id, policy["id"])
    stored, raw = bytes(row["hook_secret"]), _raw(policy["hookSecret"])
    assert raw not in stored and policy["hookSecret"].encode() not in stored
    assert row["hook_secret_previous"] is None and row["hook_secret_previous_until"] is None
    ring, policy_id = KeyRing.parse(TEST_KEY_RING), uuid.UUID(policy["id"])
    assert ring.decrypt(stored, signing.secret_aad(signing.HOOK_POLICY, actor.tenant_id, policy_id)) == raw
    for aad in (
        signing.secret_aad(signing.HOOK_POLICY, world.tenant_b, policy_id),
        signing.secret_aad(signing.HOOK_POLICY, actor.tenant_id, uuid.uuid4()),
        signing.secret_aad(signing.DISPATCH_CONFIG, actor.tenant_id, policy_id),
    ):
        with pytest.raises(CredentialsError):
            ring.decrypt(stored, aad)


async def test_after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"value": 1}') as hook:
        policy = await _policy(client, actor, hook.url)
        before = time.time()
        rotated = await ok(client, actor, "POST", f"{POLICIES}/{policy['id']}/hook-secret")
        assert set(rotated) == {"hookSecret", "previousSecretExpiresAt"}
        new, old = rotated["hookSecret"], policy["hookSecret"]
        assert new != old and len(_raw(new)) == 32
        assert "hookSecret" not in (await client.get(POLICIES, headers=actor.headers())).text
        store = await commerce(client, actor)
        await create_activity(client, actor, store["id"], attribute_keys=["promotions"])  # signed now
        [during] = hook.requests
        assert len(signatures(during)) == 2
        verify(new, during)
        verify(old, during)
        # The policy as resolution reads it, asked at clocks around the end of the overlap.
        async with app_pool.acquire() as conn, conn.transaction():
            await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
            row = await queries.activities.resolution_context(
                conn,
                tenant_id=actor.tenant_id,
                commerce_id=uuid.UUID(store["id"]),
                channel="WHATSAPP",
                keys=["promotions"],
                route_id=None,
                operator_id=None,
            )
        resolved = Context.from_row(row).policies["promotions"]
        assert resolved.hook_signing is not None and resolved.hook_signing.previous_until is not None
        end = resolved.hook_signing.previous_until
        assert before + DAY - 2 <= end <= time.time() + DAY + 1
        moments = [end - 60, end + 1]
        ring = KeyRing.parse(TEST_KEY_RING)
        for moment in moments:
            caller = HookCaller(LOOPBACK, None, key_ring=ring, clock=lambda m=moment: m)
            async with GuardedClient(LOOPBACK, timeout=HOOK_TIMEOUT) as http:
                assert await caller._ask(http, resolved, {"id": "a"}) == (True, 1)
    late, after = hook.requests[1:]
    assert len(signatures(late)) == 2
    verify(new, late, moments[0])
    verify(old, late, moments[0])
    assert len(signatures(after)) == 1
    verify(new, after, moments[1])
    assert "No matching signature" in refused(old, after, moments[1])


async def test_a_policy_from_before_signing_is_unsigned_until_rotated(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"value": 1}') as hook:
        policy = await _policy(client, actor, hook.url)
        async with app_pool.acquire() as conn, conn.transaction():
            await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
            await conn.execute(
                "update app.attribute_policies set hook_secret = null where tenant_id = $1 and id = $2",
                actor.tenant_id,
                uuid.UUID(policy["id"]),
            )
        store = await commerce(client, actor)
        await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
        again = await _policy(client, actor, hook.url + "/v2")  # still CLIENT_HOOK: nothing made
        assert "hookSecret" not in again
        first = await ok(client, actor, "POST", f"{POLICIES}/{policy['id']}/hook-secret")
        assert first["previousSecretExpiresAt"] is None
        await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    unsigned, signed = hook.requests
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & unsigned.headers.keys()
    assert len(signatures(signed)) == 1
    verify(first["hookSecret"], signed)


async def test_rotation_is_for_managers_of_the_tenant_and_client_hooks_only(
    client: Client, world: World
) -> None:
    actor = world.admin_a
    policy = await _policy(client, actor, "http://127.0.0.1:9/hook")
    url = f"{POLICIES}/{policy['id']}/hook-secret"
    rotated = await rotated_only_by_managers(client, world, url, f"{POLICIES}/{uuid.uuid4()}/hook-secret")
    assert rotated.json()["hookSecret"] != policy["hookSecret"]
    plain = await _policy(client, actor, None)  # no longer a hook: nothing to rotate
    assert_error(await client.post(f"{POLICIES}/{plain['id']}/hook-secret", headers=actor.headers()), 400)


async def test_an_on_dispatch_hook_call_is_signed(client: Client, world: World) -> None:
    actor = world.admin_a
    providers = await ok(client, actor, "GET", "/api/dispatch-providers")
    mock = next(p["id"] for p in providers if p["code"] == "MOCK")
    body = {"dispatch_provider_id": mock, "channel": "SALESMAN"}
    await ok(client, actor, "POST", "/api/dispatch-configs", 201, json=body)
    async with Receiver(body=b'{"value": "fresh"}') as hook:
        policy = await _policy(client, actor, hook.url, "ON_DISPATCH")
        store = await commerce(client, actor)
        route = await ok(client, actor, "POST", "/api/routes", 201, json={"name": "R", "code": "R1"})
        operator = await ok(
            client, actor, "POST", "/api/operators", 201, json={"type": "SALESMAN", "name": "Op"}
        )
        link = {"operatorId": operator["id"]}
        await ok(client, actor, "POST", f"/api/routes/{route['id']}/operators", 201, json=link)
        body = {
            "reason": "Visit", "channel": "SALESMAN", "commerce_id": store["id"], "idempotency_key": "sig-1",
            "assigned_route_id": route["id"], "assigned_operator_id": operator["id"],
            "scheduled_at": "2031-01-16T09:00:00.000Z", "attribute_keys": ["promotions"],
        }  # fmt: skip
        task = await ok(client, actor, "POST", "/api/activities/tasks", 201, json=body)
        response = await client.post(f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers())
        assert response.status_code == 204, response.text
    [request] = hook.requests
    verify(policy["hookSecret"], request)


async def test_a_retried_hook_call_is_signed(client: Client, world: World) -> None:
    actor = world.admin_a
    async with Receiver(status=503) as hook:
        policy = await _policy(client, actor, hook.url)
        store = await commerce(client, actor)
        activity = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
        assert activity["status"] == "UNRESOLVED"
        hook.status, hook.body = 200, b'{"value": 7}'
        await ok(client, actor, "PATCH", f"/api/activities/{activity['id']}/retry-resolution")
    for request in hook.requests:
        verify(policy["hookSecret"], request)
