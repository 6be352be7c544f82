"""Typed access to API keys (a tenant table: every statement runs in the transaction's tenant and names
it). The only module of the domain that names ``queries.api_keys``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from app.api_keys.schemas import ApiKey, ApiKeyCreated
from app.db import Tx, queries
from app.errors import NotFound
from app.structs import from_row

__all__ = (
    "create",
    "get",
    "list_for_tenant",
    "list_for_user",
    "revoke",
    "revoke_for_user",
    "to_api_key",
    "to_api_key_created",
)

K = TypeVar("K", bound=ApiKey)


def _to(struct: type[K], row: asyncpg.Record, **extra: Any) -> K:
    expires_at = row["expires_at"]
    active = row["revoked_at"] is None and (expires_at is None or expires_at > datetime.now(UTC))
    return from_row(struct, row, is_active=active, permissions=list(row["permissions"]), **extra)


def to_api_key(row: asyncpg.Record) -> ApiKey:
    return _to(ApiKey, row)


def to_api_key_created(row: asyncpg.Record, key: str) -> ApiKeyCreated:
    """The create response: the one time the key itself is shown (as ``plaintextKey`` and ``key``)."""
    return _to(ApiKeyCreated, row, plaintext_key=key, key=key)


async def create(
    tx: Tx,
    *,
    user_id: uuid.UUID,
    name: str,
    key_prefix: str,
    key_digest: bytes,
    permissions: list[str],
    expires_at: datetime | None,
) -> asyncpg.Record:
    return await queries.api_keys.insert_api_key(
        tx.conn,
        tenant_id=tx.tenant_id,
        user_id=user_id,
        name=name,
        key_prefix=key_prefix,
        key_digest=key_digest,
        permissions=permissions,
        expires_at=expires_at,
    )


async def list_for_user(tx: Tx, user_id: uuid.UUID) -> list[ApiKey]:
    rows = queries.api_keys.list_user_api_keys(tx.conn, tenant_id=tx.tenant_id, user_id=user_id)
    return [to_api_key(r) async for r in rows]


async def get(tx: Tx, key_id: uuid.UUID) -> asyncpg.Record:
    row = await queries.api_keys.get_api_key(tx.conn, tenant_id=tx.tenant_id, id=key_id)
    if row is None:
        raise NotFound.of("API key")
    return row


async def revoke(tx: Tx, key_id: uuid.UUID) -> bool:
    """True when this call revoked it, False when it was already revoked."""
    return await queries.api_keys.revoke_api_key(tx.conn, tenant_id=tx.tenant_id, id=key_id) is not None


async def list_for_tenant(tx: Tx) -> list[ApiKey]:
    return [
        to_api_key(r) async for r in queries.api_keys.list_tenant_api_keys(tx.conn, tenant_id=tx.tenant_id)
    ]


async def revoke_for_user(tx: Tx, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Revoke every active key the user created in the tenant; the ids revoked now."""
    return [
        r["id"]
        async for r in queries.api_keys.revoke_user_api_keys(tx.conn, tenant_id=tx.tenant_id, user_id=user_id)
    ]
