"""Key rotation: after ``reten keys rotate`` with a new primary key, no stored credential is left on the
old key, each still decrypts (for its own row only), and a repeat rotates nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from activities.helpers import ok
from conftest import TEST_KEY_RING, ClusterDsns, World

from app.crypto import (
    CredentialsError,
    KeyRing,
    credentials_aad,
    decrypt_credentials,
    generate_key,
    legacy_credentials_aad,
)
from app.dispatch.keys import rotate


async def _stored(app_pool: asyncpg.Pool, tenant: uuid.UUID) -> list[Any]:
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        return list(
            await conn.fetch("select id, base_url, credentials, credentials_key_id from app.dispatch_configs")
        )


async def test_rotation_moves_every_credential_to_the_new_key(
    client: Any, world: World, app_pool: asyncpg.Pool, cluster: ClusterDsns
) -> None:
    providers = await ok(client, world.admin_a, "GET", "/api/dispatch-providers")
    yom = next(p["id"] for p in providers if p["code"] == "YOM")
    for actor in (world.admin_a, world.admin_b):
        for channel in ("SALESMAN", "CALLCENTER"):
            body = {
                "dispatchProviderId": yom,
                "channel": channel,
                "baseUrl": "http://127.0.0.1:9/yom",
                "credentials": {"apiKey": f"secret-{channel}-{actor.tenant_id}"},
            }
            await ok(client, actor, "POST", "/api/dispatch-configs", 201, json=body)
    new_ring = KeyRing.parse(generate_key("k2") + "," + TEST_KEY_RING)
    # Each config's signing secret moves to the new key too (tests/dispatch/test_signing.py reads them).
    assert await rotate(cluster.owner, new_ring) == {"tenants": 2, "rotated": 4, "secrets": 4}
    for tenant in (world.tenant_a, world.tenant_b):
        rows = await _stored(app_pool, tenant)
        assert len(rows) == 2 and {r["credentials_key_id"] for r in rows} == {"k2"}
        for row in rows:
            assert new_ring.key_id(row["credentials"]) == "k2"
            aad = credentials_aad(tenant, row["id"], row["base_url"])
            assert new_ring.decrypt(row["credentials"], aad).startswith(b'{"apiKey"')
            other = world.tenant_b if tenant == world.tenant_a else world.tenant_a
            try:
                new_ring.decrypt(row["credentials"], credentials_aad(other, row["id"], row["base_url"]))
                raise AssertionError("a value decrypted for another tenant")
            except CredentialsError:
                pass
    assert await rotate(cluster.owner, new_ring) == {"tenants": 2, "rotated": 0, "secrets": 0}


async def test_rotation_binds_values_written_before_the_url_was_bound(
    client: Any, world: World, app_pool: asyncpg.Pool, cluster: ClusterDsns
) -> None:
    """A value stored with the old associated data (tenant and row only) is rewritten, on the same key,
    to name its URL; then it reads for that URL only."""
    providers = await ok(client, world.admin_a, "GET", "/api/dispatch-providers")
    yom = next(p["id"] for p in providers if p["code"] == "YOM")
    body = {
        "dispatchProviderId": yom,
        "channel": "SALESMAN",
        "baseUrl": "http://127.0.0.1:9/yom",
        "credentials": {"apiKey": "legacy-secret"},
    }
    config = await ok(client, world.admin_a, "POST", "/api/dispatch-configs", 201, json=body)
    ring = KeyRing.parse(TEST_KEY_RING)
    config_id = uuid.UUID(config["id"])
    legacy = ring.encrypt(b'{"apiKey": "legacy-secret"}', legacy_credentials_aad(world.tenant_a, config_id))
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{world.tenant_a}'")
        await conn.execute(
            "update app.dispatch_configs set credentials = $3 where tenant_id = $1 and id = $2",
            world.tenant_a,
            config_id,
            legacy,
        )
    assert await rotate(cluster.owner, ring) == {"tenants": 2, "rotated": 1, "secrets": 0}
    [row] = await _stored(app_pool, world.tenant_a)
    assert decrypt_credentials(ring, row["credentials"], world.tenant_a, config_id, row["base_url"]) == (
        b'{"apiKey": "legacy-secret"}',
        True,
    )
    with pytest.raises(CredentialsError):
        ring.decrypt(row["credentials"], legacy_credentials_aad(world.tenant_a, config_id))
    assert await rotate(cluster.owner, ring) == {"tenants": 2, "rotated": 0, "secrets": 0}
