"""``reten keys``: the credentials key ring. ``generate`` prints a new entry; ``rotate`` re-encrypts every
stored credential and signing secret (dispatch configs' and hook policies') with the primary key (run it
after putting a new key first in CREDENTIALS_KEYS, then drop the old key once it reports nothing left on
it)."""

from __future__ import annotations

import uuid

import asyncpg

from app.activity_config import repo as activity_config
from app.crypto import KeyRing, credentials_aad, decrypt_credentials
from app.db import Tx, use_tenant
from app.dispatch import repo
from app.outbound import signing

__all__ = ("rotate",)


def _rewrapped(
    ring: KeyRing, purpose: str, tenant_id: uuid.UUID, owner_id: uuid.UUID, values: list[bytes | None]
) -> list[bytes | None] | None:
    """A row's signing secrets (current, previous) on the primary key, or None when they all are."""
    aad = signing.secret_aad(purpose, tenant_id, owner_id)
    moved = [ring.rotate(v, aad) if v is not None else None for v in values]
    if all(m is None for m in moved):
        return None
    return [m if m is not None else v for m, v in zip(moved, values, strict=True)]


async def _rotate_secrets(tx: Tx, ring: KeyRing) -> int:
    """The tenant's signing secrets re-encrypted with the primary key; how many rows changed."""
    changed = 0
    for row in await repo.configs_with_signing_secrets(tx):
        values = [row["signing_secret"], row["signing_secret_previous"]]
        if new := _rewrapped(ring, signing.DISPATCH_CONFIG, tx.tenant_id, row["id"], values):
            await repo.set_signing_secrets(
                tx, row["id"], signing_secret=new[0], signing_secret_previous=new[1]
            )
            changed += 1
    for row in await activity_config.policies_with_hook_secrets(tx):
        values = [row["hook_secret"], row["hook_secret_previous"]]
        if new := _rewrapped(ring, signing.HOOK_POLICY, tx.tenant_id, row["id"], values):
            await activity_config.set_hook_secrets(
                tx, row["id"], hook_secret=new[0], hook_secret_previous=new[1]
            )
            changed += 1
    return changed


async def rotate(owner_dsn: str, ring: KeyRing) -> dict[str, int]:
    """Re-encrypt every config's credentials that are not on the primary key or not yet bound to their URL
    (written before that binding), and every signing secret not on the primary key, one transaction per
    tenant (as the owner role, inside each tenant's context: row-level security still applies).
    Returns {"tenants": n, "rotated": credentials rewritten, "secrets": rows whose secrets were}."""
    conn = await asyncpg.connect(owner_dsn)
    rotated = 0
    secrets = 0
    try:
        tenants = await repo.tenant_ids(conn)
        for tenant_id in tenants:
            async with conn.transaction():
                tx = await use_tenant(conn, tenant_id)
                for row in await repo.configs_with_credentials(tx):
                    plain, bound = decrypt_credentials(
                        ring, row["credentials"], tenant_id, row["id"], row["base_url"]
                    )
                    if bound and ring.key_id(row["credentials"]) == ring.primary:
                        continue
                    value = ring.encrypt(plain, credentials_aad(tenant_id, row["id"], row["base_url"]))
                    await repo.set_credentials(
                        tx, row["id"], credentials=value, credentials_key_id=ring.primary
                    )
                    rotated += 1
                secrets += await _rotate_secrets(tx, ring)
    finally:
        await conn.close()
    return {"tenants": len(tenants), "rotated": rotated, "secrets": secrets}
