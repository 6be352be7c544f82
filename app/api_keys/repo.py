"""Typed access to API keys (a tenant table: every statement names the tenant)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.api_keys.schemas import ApiKey
from app.db import Connection, queries
from app.errors import NotFound
from app.structs import from_row

__all__ = ("create", "get", "list_for_tenant", "list_for_user", "revoke", "revoke_for_user", "to_api_key")


def to_api_key(row: Any, struct: type[ApiKey] = ApiKey, **extra: Any) -> Any:
    expires_at = row["expires_at"]
    active = row["revoked_at"] is None and (expires_at is None or expires_at > datetime.now(UTC))
    return from_row(struct, row, is_active=active, permissions=list(row["permissions"]), **extra)


async def create(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    key_prefix: str,
    key_digest: bytes,
    permissions: list[str],
    expires_at: datetime | None,
) -> Any:
    return await queries.api_keys.insert_api_key(
        conn,
        tenant_id=tenant_id,
        user_id=user_id,
        name=name,
        key_prefix=key_prefix,
        key_digest=key_digest,
        permissions=permissions,
        expires_at=expires_at,
    )


async def list_for_user(conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[ApiKey]:
    rows = queries.api_keys.list_user_api_keys(conn, tenant_id=tenant_id, user_id=user_id)
    return [to_api_key(r) async for r in rows]


async def get(conn: Connection, tenant_id: uuid.UUID, key_id: uuid.UUID) -> Any:
    row = await queries.api_keys.get_api_key(conn, tenant_id=tenant_id, id=key_id)
    if row is None:
        raise NotFound.of("API key")
    return row


async def revoke(conn: Connection, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """True when this call revoked it, False when it was already revoked."""
    return await queries.api_keys.revoke_api_key(conn, tenant_id=tenant_id, id=key_id) is not None


async def list_for_tenant(conn: Connection, tenant_id: uuid.UUID) -> list[ApiKey]:
    return [to_api_key(r) async for r in queries.api_keys.list_tenant_api_keys(conn, tenant_id=tenant_id)]


async def revoke_for_user(conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Revoke every active key the user created in the tenant; the ids revoked now."""
    return [
        r["id"]
        async for r in queries.api_keys.revoke_user_api_keys(conn, tenant_id=tenant_id, user_id=user_id)
    ]
