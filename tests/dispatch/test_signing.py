"""Provider deliveries signed as Standard Webhooks 1.0 does, checked as a provider would (the reference
library on what a loopback receiver got): the secret shown once at creation, the same ``webhook-id`` on
every attempt, a rotation whose old secret signs beside the new one for 24 h and then stops, secrets
never shown again and stored as ciphertext bound to their row, and ``reten keys rotate`` keeping them."""

from __future__ import annotations

import base64
import dataclasses
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from activities.helpers import commerce, create_activity, create_task, ok, route_with_operator
from conftest import TEST_KEY_RING, ClusterDsns, World, assert_error
from signatures import refused, rotated_only_by_managers, signatures, verify
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.crypto import CredentialsError, KeyRing, credentials_aad, generate_key
from app.db import queries
from app.dispatch.delivery import Job, call, delivery_id
from app.dispatch.keys import rotate
from app.loadtest.receiver import Receiver
from app.outbound import signing
from app.outbound.addresses import parse_networks
from app.outbound.http import GuardedClient

CONFIGS = "/api/dispatch-configs"
DAY = 24 * 3600
LOOPBACK = parse_networks(["127.0.0.0/8"])


async def _provider(client: Any, actor: Any, code: str) -> str:
    return next(
        p["id"] for p in await ok(client, actor, "GET", "/api/dispatch-providers") if p["code"] == code
    )


async def _yom(client: Any, actor: Any, url: str, key: str = "yom-key-1") -> dict[str, Any]:
    body = {
        "dispatchProviderId": await _provider(client, actor, "YOM"),
        "channel": "SALESMAN",
        "baseUrl": url,
        "credentials": {"apiKey": key},
    }
    return await ok(client, actor, "POST", CONFIGS, 201, json=body)


async def _task(client: Any, actor: Any, external_id: str = "store-001") -> dict[str, Any]:
    store = await commerce(client, actor, external_id)
    route_id, operator_id = await route_with_operator(client, actor, code=f"R-{external_id}")
    return await create_task(client, actor, store["id"], route_id, operator_id)


async def _dispatch(client: Any, actor: Any, task: dict[str, Any]) -> Any:
    return await client.post(f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers())


async def _rotate(client: Any, actor: Any, config_id: str) -> dict[str, Any]:
    return await ok(client, actor, "POST", f"{CONFIGS}/{config_id}/signing-secret")


async def _row(pool: asyncpg.Pool, tenant: uuid.UUID, sql: str, *args: Any) -> Any:
    """One row read as the application role in ``tenant`` (row-level security applies)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        return await conn.fetchrow(sql, *args)


def _raw(secret: str) -> bytes:
    assert secret.startswith("whsec_"), secret
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


# ------------------------------------------------------------------------------------------ the signer


def test_signatures_verify_with_the_reference_library() -> None:
    """Our signer against the spec's reference verifier: one secret, two, a tampered body, a wrong id."""
    new, old = signing.new_secret(), signing.new_secret()
    assert len(new) == 32 and new != old
    body = b'{"id": "a", "text": "\xc3\xb1and\xc3\xba"}'
    now = time.time()
    headers = signing.sign_headers([new, old], "d8a1c1a6-0000-4000-8000-000000000001", body, now)
    assert headers["webhook-timestamp"] == str(int(now))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(signing.shown(secret)).verify(body, headers) == {"id": "a", "text": "ñandú"}
        assert Webhook(secret).verify(body, headers)  # the raw bytes are the same key
    mine, stranger = Webhook(signing.shown(new)), Webhook(signing.shown(signing.new_secret()))
    for receiver, data, sent in (
        (stranger, body, headers),
        (mine, body + b" ", headers),
        (mine, body, {**headers, "webhook-id": "d8a1c1a6-0000-4000-8000-000000000002"}),
        (mine, body, {**headers, "webhook-timestamp": str(int(now) + 1)}),
    ):
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            receiver.verify(data, sent)
    with pytest.raises(ValueError):
        signing.sign_headers(new, "has.a.dot", body, now)
    with pytest.raises(ValueError):
        signing.sign_headers([], "id", body, now)


def test_a_rotated_out_key_signs_only_until_its_overlap_ends() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    keys = (signing.SigningKey(new), signing.SigningKey(old, until=1000.0))
    assert signing.active(keys, 999.0) == [new, old]
    assert signing.active(keys, 1000.0) == [new]


def test_sealed_secrets_open_only_for_their_row_and_purpose() -> None:
    ring = KeyRing.parse(TEST_KEY_RING)
    tenant, row = uuid.uuid4(), uuid.uuid4()
    secret = signing.new_secret()
    value = ring.encrypt(secret, signing.secret_aad(signing.DISPATCH_CONFIG, tenant, row))
    sealed = signing.Sealed.of(signing.DISPATCH_CONFIG, tenant, row, value)
    assert sealed is not None and sealed.open(ring) == (signing.SigningKey(secret),)
    assert signing.Sealed.of(signing.DISPATCH_CONFIG, tenant, row, None) is None
    for moved in (
        signing.Sealed(signing.HOOK_POLICY, tenant, row, value),
        signing.Sealed(signing.DISPATCH_CONFIG, uuid.uuid4(), row, value),
        signing.Sealed(signing.DISPATCH_CONFIG, tenant, uuid.uuid4(), value),
    ):
        with pytest.raises(signing.SigningError):
            moved.open(ring)
    with pytest.raises(signing.SigningError, match="CREDENTIALS_KEYS"):
        sealed.open(None)
    with pytest.raises(CredentialsError):  # nor does it read as the row's credentials
        ring.decrypt(value, credentials_aad(tenant, row, None))


# ------------------------------------------------------------------------------------- provider calls


async def test_a_delivery_verifies_with_the_secret_shown_at_creation(client: Any, world: World) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"id": "yom-7"}') as receiver:
        config = await _yom(client, actor, receiver.url)
        task = await _task(client, actor)
        response = await _dispatch(client, actor, task)
        assert response.status_code == 204, response.text
    secret = config["signingSecret"]
    assert len(_raw(secret)) == 32
    [request] = receiver.requests
    assert verify(secret, request)["id"] == task["id"]
    assert request.headers["webhook-id"] == delivery_id(actor.tenant_id, uuid.UUID(task["id"]))
    assert request.headers["x-reten-delivery-id"] == request.headers["webhook-id"]
    assert request.headers["x-api-key"] == "yom-key-1"
    assert abs(int(request.headers["webhook-timestamp"]) - request.at) <= 2
    assert len(signatures(request)) == 1
    # Only this config's secret verifies it; another config's (tenant B's) does not.
    other = await _yom(client, world.admin_b, receiver.url)
    assert "No matching signature" in refused(other["signingSecret"], request)


async def test_every_attempt_carries_the_same_webhook_id(client: Any, world: World) -> None:
    actor = world.admin_a
    async with Receiver(status=503) as receiver:
        config = await _yom(client, actor, receiver.url)
        task = await _task(client, actor)
        for _ in range(2):
            assert_error(await _dispatch(client, actor, task), 502)
        receiver.status = 200
        assert (await _dispatch(client, actor, task)).status_code == 204
    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {
        delivery_id(actor.tenant_id, uuid.UUID(task["id"]))
    }
    for request in receiver.requests:
        verify(config["signingSecret"], request)
        assert abs(int(request.headers["webhook-timestamp"]) - request.at) <= 2  # taken per attempt


async def test_after_a_rotation_old_and_new_secrets_both_verify(client: Any, world: World) -> None:
    actor = world.admin_a
    async with Receiver() as receiver:
        config = await _yom(client, actor, receiver.url)
        rotated = await _rotate(client, actor, config["id"])
        task = await _task(client, actor)
        assert (await _dispatch(client, actor, task)).status_code == 204
    [request] = receiver.requests
    assert len(signatures(request)) == 2
    verify(rotated["signingSecret"], request)
    verify(config["signingSecret"], request)


async def test_a_rotation_answers_the_new_secret_once_and_the_old_one_stops_after_24_hours(
    client: Any, world: World, app_pool: asyncpg.Pool
) -> None:
    """The call at a given clock (``call(now=...)``) with the keys the config's row gives
    (``signing.config_keys`` over ``dispatch_target``, what delivery.prepare reads): both secrets sign
    during the overlap, only the new one after it."""
    actor = world.admin_a
    async with Receiver() as receiver:
        config = await _yom(client, actor, receiver.url)
        before = time.time()
        rotated = await _rotate(client, actor, config["id"])
        assert set(rotated) == {"signingSecret", "previousSecretExpiresAt"}
        new, old = rotated["signingSecret"], config["signingSecret"]
        assert new != old and len(_raw(new)) == 32
        expires = rotated["previousSecretExpiresAt"]
        assert before + DAY - 2 <= _epoch(expires) <= time.time() + DAY + 1
        listed = await client.get(CONFIGS, headers=actor.headers())
        assert new not in listed.text and old not in listed.text and "signingSecret" not in listed.text
        store = await commerce(client, actor)
        activity = await create_activity(client, actor, store["id"], channel="SALESMAN")
        job = await _job(app_pool, actor.tenant_id, uuid.UUID(activity["id"]), receiver.url)
        end = _epoch(expires)
        moments = [time.time(), end - 60, end + 1, time.time() + 2 * DAY]
        async with GuardedClient(LOOPBACK) as http:
            for moment in moments:
                await call(http, job, now=moment)
    assert len(receiver.requests) == 4
    for request, at in zip(receiver.requests[:2], moments[:2], strict=True):
        assert request.headers["webhook-timestamp"] == str(int(at))
        assert len(signatures(request)) == 2
        verify(new, request, at)
        verify(old, request, at)
    for request, at in zip(receiver.requests[2:], moments[2:], strict=True):
        assert len(signatures(request)) == 1
        verify(new, request, at)
        assert "No matching signature" in refused(old, request, at)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {
        delivery_id(actor.tenant_id, uuid.UUID(activity["id"]))
    }
    # A second rotation within the overlap: the secret rotated out first stops at once (two sign at most).
    again = await _rotate(client, actor, config["id"])
    job = await _job(app_pool, actor.tenant_id, uuid.UUID(activity["id"]), receiver.url)
    assert [k.until is None for k in job.signing_keys] == [True, False]
    assert job.signing_keys[0].secret == _raw(again["signingSecret"])
    assert job.signing_keys[1].secret == _raw(new)


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


async def _job(pool: asyncpg.Pool, tenant: uuid.UUID, activity_id: uuid.UUID, url: str) -> Job:
    """A Job for the activity with its config's signing keys, read as delivery.prepare reads them."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        row = await queries.dispatch.dispatch_target(conn, tenant_id=tenant, id=activity_id)
    keys, error = signing.config_keys(KeyRing.parse(TEST_KEY_RING), tenant, row)
    assert error is None and keys
    return Job(
        tenant_id=tenant,
        activity_id=activity_id,
        protocol_type="REST",
        url=url,
        api_key=None,
        body=b'{"id": "payload"}',
        lease_token=uuid.uuid4(),
        signing_keys=keys,
    )


async def test_a_config_from_before_signing_is_unsigned_until_rotated(
    client: Any, world: World, app_pool: asyncpg.Pool
) -> None:
    """A config without a secret (written before migration 0010) is called unsigned; its first rotation
    makes one, and there is no previous secret to keep."""
    actor = world.admin_a
    async with Receiver() as receiver:
        config = await _yom(client, actor, receiver.url)
        await _row(
            app_pool,
            actor.tenant_id,
            "update app.dispatch_configs set signing_secret = null where tenant_id = $1 and id = $2"
            " returning id",
            actor.tenant_id,
            uuid.UUID(config["id"]),
        )
        store = await commerce(client, actor)
        activity = await create_activity(client, actor, store["id"], channel="SALESMAN")
        async with app_pool.acquire() as conn, conn.transaction():
            await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
            row = await queries.dispatch.dispatch_target(
                conn, tenant_id=actor.tenant_id, id=uuid.UUID(activity["id"])
            )
        assert signing.config_keys(KeyRing.parse(TEST_KEY_RING), actor.tenant_id, row) == ((), None)
        first = await _rotate(client, actor, config["id"])
        assert first["previousSecretExpiresAt"] is None
        job = await _job(app_pool, actor.tenant_id, uuid.UUID(activity["id"]), receiver.url)
        assert len(job.signing_keys) == 1
        async with GuardedClient(LOOPBACK) as http:
            await call(http, job)
            await call(http, dataclasses.replace(job, signing_keys=()))
    signed, unsigned = receiver.requests
    verify(first["signingSecret"], signed)
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & unsigned.headers.keys()


async def test_an_unreadable_secret_fails_the_attempt_instead_of_sending_unsigned(
    client: Any, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    mine = await _yom(client, actor, "http://127.0.0.1:9/yom")
    theirs = await _yom(client, world.admin_b, "http://127.0.0.1:9/yom")
    sql = "select signing_secret from app.dispatch_configs where id = $1"
    stolen = await _row(app_pool, world.tenant_b, sql, uuid.UUID(theirs["id"]))
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"], channel="SALESMAN")
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
        await conn.execute(
            "update app.dispatch_configs set signing_secret = $3 where tenant_id = $1 and id = $2",
            actor.tenant_id,
            uuid.UUID(mine["id"]),
            stolen["signing_secret"],
        )
        row = await queries.dispatch.dispatch_target(
            conn, tenant_id=actor.tenant_id, id=uuid.UUID(activity["id"])
        )
    keys, error = signing.config_keys(KeyRing.parse(TEST_KEY_RING), actor.tenant_id, row)
    assert keys == () and error is not None and error.code == "SIGNING_SECRET"
    keys, error = signing.config_keys(None, actor.tenant_id, row)
    assert error is not None and "CREDENTIALS_KEYS" in str(error)


# ------------------------------------------------------------------------------------ secret handling


async def test_the_secret_is_shown_at_creation_only(
    client: Any, world: World, caplog: Any, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    caplog.set_level("DEBUG")
    created = await _yom(client, actor, "http://127.0.0.1:9/yom")
    sql = "select signing_secret from app.dispatch_configs where id = $1"
    stored = await _row(app_pool, actor.tenant_id, sql, uuid.UUID(created["id"]))
    mock = await ok(
        client,
        actor,
        "POST",
        CONFIGS,
        201,
        json={"dispatch_provider_id": await _provider(client, actor, "MOCK"), "channel": "SMS"},
    )
    secrets = [created["signingSecret"], mock["signingSecret"]]
    assert all(len(_raw(s)) == 32 for s in secrets) and secrets[0] != secrets[1]
    url = f"{CONFIGS}/{created['id']}"
    texts = [
        (await client.get(CONFIGS, headers=actor.headers())).text,
        (await client.patch(url, headers=actor.headers(), json={"settings": {"a": 1}})).text,
        (await client.patch(url, headers=actor.headers(), json={"credentials": {"apiKey": "k2"}})).text,
        (await client.patch(url, headers=actor.headers(), json={"isActive": False})).text,
        (await client.get(CONFIGS, headers=actor.headers())).text,
        caplog.text,
    ]
    for text in texts:
        assert "signingSecret" not in text
        for secret in secrets:
            assert secret not in text and secret.removeprefix("whsec_") not in text
    # Kept as stored by every PATCH (new credentials, another state): only a rotation changes it.
    assert await _row(app_pool, actor.tenant_id, sql, uuid.UUID(created["id"])) == stored


async def test_the_stored_secret_is_ciphertext_bound_to_its_row(
    client: Any, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    created = await _yom(client, actor, "http://127.0.0.1:9/yom")
    config_id = uuid.UUID(created["id"])
    row = await _row(
        app_pool,
        actor.tenant_id,
        "select signing_secret, signing_secret_previous, signing_secret_previous_until,"
        " credentials from app.dispatch_configs where id = $1",
        config_id,
    )
    stored, raw = bytes(row["signing_secret"]), _raw(created["signingSecret"])
    assert raw not in stored and created["signingSecret"].encode() not in stored
    assert row["signing_secret_previous"] is None and row["signing_secret_previous_until"] is None
    ring = KeyRing.parse(TEST_KEY_RING)
    assert ring.key_id(stored) == ring.primary
    own = signing.secret_aad(signing.DISPATCH_CONFIG, actor.tenant_id, config_id)
    assert ring.decrypt(stored, own) == raw
    for aad in (
        signing.secret_aad(signing.DISPATCH_CONFIG, world.tenant_b, config_id),
        signing.secret_aad(signing.DISPATCH_CONFIG, actor.tenant_id, uuid.uuid4()),
        signing.secret_aad(signing.HOOK_POLICY, actor.tenant_id, config_id),
        credentials_aad(actor.tenant_id, config_id, "http://127.0.0.1:9/yom"),
    ):
        with pytest.raises(CredentialsError):
            ring.decrypt(stored, aad)
    assert bytes(row["credentials"]) != stored


async def test_rotation_is_for_managers_of_the_tenant_only(client: Any, world: World) -> None:
    actor = world.admin_a
    config = await _yom(client, actor, "http://127.0.0.1:9/yom")
    url = f"{CONFIGS}/{config['id']}/signing-secret"
    assert_error(await client.post(f"{CONFIGS}/not-a-uuid/signing-secret", headers=actor.headers()), 400)
    rotated = await rotated_only_by_managers(client, world, url, f"{CONFIGS}/{uuid.uuid4()}/signing-secret")
    assert rotated.json()["signingSecret"] != config["signingSecret"]


async def test_keys_rotate_keeps_signing_secrets_usable(
    client: Any, world: World, app_pool: asyncpg.Pool, cluster: ClusterDsns
) -> None:
    """After ``reten keys rotate`` onto a new primary key, the current and the rotated-out secret of a
    config are on the new key and still sign what the shown secrets verify."""
    actor = world.admin_a
    config = await _yom(client, actor, "http://127.0.0.1:9/yom")
    rotated = await _rotate(client, actor, config["id"])
    new_ring = KeyRing.parse(generate_key("k2") + "," + TEST_KEY_RING)
    assert await rotate(cluster.owner, new_ring) == {"tenants": 2, "rotated": 1, "secrets": 1}
    config_id = uuid.UUID(config["id"])
    row = await _row(
        app_pool,
        actor.tenant_id,
        "select signing_secret, signing_secret_previous, signing_secret_previous_until"
        " from app.dispatch_configs where id = $1",
        config_id,
    )
    assert [new_ring.key_id(bytes(row[c])) for c in ("signing_secret", "signing_secret_previous")] == [
        "k2",
        "k2",
    ]
    sealed = signing.Sealed.of(
        signing.DISPATCH_CONFIG,
        actor.tenant_id,
        config_id,
        row["signing_secret"],
        row["signing_secret_previous"],
        row["signing_secret_previous_until"],
    )
    assert sealed is not None
    keys = sealed.open(new_ring)
    with pytest.raises(signing.SigningError):  # the old ring alone cannot read them any more
        sealed.open(KeyRing.parse(TEST_KEY_RING))
    now = time.time()
    headers = signing.sign_headers(signing.active(keys, now), "msg-1", b'{"a": 1}', now)
    for secret in (rotated["signingSecret"], config["signingSecret"]):
        assert Webhook(secret).verify(b'{"a": 1}', headers) == {"a": 1}
    assert await rotate(cluster.owner, new_ring) == {"tenants": 2, "rotated": 0, "secrets": 0}
