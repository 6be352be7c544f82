"""``reten keys``: the credentials key ring. ``generate`` prints a new entry; ``rotate`` re-encrypts every
stored credential with the primary key (run it after putting a new key first in CREDENTIALS_KEYS, then
drop the old key once it reports nothing left on it)."""

from __future__ import annotations

import asyncpg

from app.db import queries, use_tenant
from app.dispatch.crypto import KeyRing, credentials_aad, decrypt_credentials

__all__ = ("rotate",)


async def rotate(owner_dsn: str, ring: KeyRing) -> dict[str, int]:
    """Re-encrypt every config's credentials that are not on the primary key or not yet bound to their URL
    (written before that binding), one transaction per
    tenant (as the owner role, inside each tenant's context: row-level security still applies).
    Returns {"tenants": n, "rotated": n}."""
    conn = await asyncpg.connect(owner_dsn)
    rotated = 0
    try:
        tenants = [r["id"] async for r in queries.dispatch.tenant_ids(conn)]
        for tenant_id in tenants:
            async with conn.transaction():
                await use_tenant(conn, tenant_id)
                rows = [r async for r in queries.dispatch.configs_with_credentials(conn, tenant_id=tenant_id)]
                for row in rows:
                    plain, bound = decrypt_credentials(
                        ring, row["credentials"], tenant_id, row["id"], row["base_url"]
                    )
                    if bound and ring.key_id(row["credentials"]) == ring.primary:
                        continue
                    value = ring.encrypt(plain, credentials_aad(tenant_id, row["id"], row["base_url"]))
                    await queries.dispatch.set_credentials(
                        conn,
                        tenant_id=tenant_id,
                        id=row["id"],
                        credentials=value,
                        credentials_key_id=ring.primary,
                    )
                    rotated += 1
    finally:
        await conn.close()
    return {"tenants": len(tenants), "rotated": rotated}
