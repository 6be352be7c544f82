"""Key rotation: after ``reten keys rotate`` with a new primary key, no stored credential is left on the
old key, each still decrypts (for its own row only), and a repeat rotates nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from activities.helpers import ok
from conftest import TEST_KEY_RING, ClusterDsns, World

from app.dispatch.crypto import CredentialsError, KeyRing, credentials_aad, generate_key
from app.dispatch.keys import rotate


async def _stored(app_pool: asyncpg.Pool, tenant: uuid.UUID) -> list[Any]:
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        return list(await conn.fetch("select id, credentials, credentials_key_id from app.dispatch_configs"))


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
    assert await rotate(cluster.owner, new_ring) == {"tenants": 2, "rotated": 4}
    for tenant in (world.tenant_a, world.tenant_b):
        rows = await _stored(app_pool, tenant)
        assert len(rows) == 2 and {r["credentials_key_id"] for r in rows} == {"k2"}
        for row in rows:
            assert new_ring.key_id(row["credentials"]) == "k2"
            assert new_ring.decrypt(row["credentials"], credentials_aad(tenant, row["id"])).startswith(
                b'{"apiKey"'
            )
            other = world.tenant_b if tenant == world.tenant_a else world.tenant_a
            try:
                new_ring.decrypt(row["credentials"], credentials_aad(other, row["id"]))
                raise AssertionError("a value decrypted for another tenant")
            except CredentialsError:
                pass
    assert await rotate(cluster.owner, new_ring) == {"tenants": 2, "rotated": 0}
