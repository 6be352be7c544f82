"""Typed access to what authentication reads and writes: the principal lookups (SECURITY DEFINER, across
tenants), a user's tenants, and refresh tokens (global tables). The only module of the domain that names
``queries.auth``."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.db import Connection, queries

__all__ = (
    "api_key_principal",
    "claim_refresh_token",
    "insert_refresh_token",
    "revoke_refresh_family",
    "revoke_user_refresh_tokens",
    "user_principal",
    "user_tenants",
)


# ---- principals (the middleware's lookups, one autocommit statement each) -------------------------
async def api_key_principal(conn: Connection, *, digest: bytes) -> asyncpg.Record | None:
    """The key of this digest with its tenant, permissions and its creator's standing there."""
    return await queries.auth.api_key_principal(conn, digest=digest)


async def user_principal(
    conn: Connection, *, user_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> asyncpg.Record | None:
    """A JWT user's standing: in ``tenant_id`` when given, else across its active tenants."""
    return await queries.auth.user_principal(conn, user_id=user_id, tenant_id=tenant_id)


async def user_tenants(conn: Connection, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every tenant the user belongs to (active or not), with its ``roles`` there."""
    return [r async for r in queries.auth.user_tenants(conn, user_id=user_id)]


# ---- refresh tokens ---------------------------------------------------------------------------------
async def insert_refresh_token(
    conn: Connection, *, id: uuid.UUID, family_id: uuid.UUID, user_id: uuid.UUID, expires_at: datetime
) -> None:
    await queries.auth.insert_refresh_token(
        conn, id=id, family_id=family_id, user_id=user_id, expires_at=expires_at
    )


async def claim_refresh_token(
    conn: Connection, *, id: uuid.UUID, user_id: uuid.UUID
) -> asyncpg.Record | None:
    """Mark the token used; None when it cannot be claimed (used, revoked, expired or unknown)."""
    return await queries.auth.claim_refresh_token(conn, id=id, user_id=user_id)


async def revoke_refresh_family(conn: Connection, family_id: uuid.UUID) -> None:
    await queries.auth.revoke_refresh_family(conn, family_id=family_id)


async def revoke_user_refresh_tokens(conn: Connection, user_id: uuid.UUID) -> None:
    await queries.auth.revoke_user_refresh_tokens(conn, user_id=user_id)
