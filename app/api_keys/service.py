"""API keys: issue (permissions must be a subset of the creator's), list, revoke (evicts the cache)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.api_keys import repo
from app.api_keys.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated
from app.auth import api_keys
from app.auth.permissions import highest_rank, normalize_permissions, rank
from app.auth.principal import Principal
from app.db import Tx
from app.errors import BadRequest, Forbidden
from app.state import Services

__all__ = ("create", "list_keys", "revoke")


async def create(tx: Tx, caller: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    permissions, unknown = normalize_permissions(data.permissions)
    if unknown:
        raise BadRequest.field("permissions", f"unknown permission(s): {', '.join(unknown)}")
    beyond = [p for p in permissions if p not in caller.permissions]
    if beyond:
        raise Forbidden(f"Cannot grant permissions you do not hold: {', '.join(beyond)}")
    expires_at = data.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise BadRequest.field("expiresAt", "must carry a UTC offset")
        if expires_at <= datetime.now(UTC):
            raise BadRequest.field("expiresAt", "must be in the future")
    key = api_keys.generate()
    row = await repo.create(
        tx,
        user_id=caller.user_id,
        name=data.name,
        key_prefix=key[: api_keys.DISPLAY_PREFIX_LEN],
        key_digest=api_keys.digest(key),
        permissions=permissions,
        expires_at=expires_at,
    )
    return repo.to_api_key_created(row, key)


def _manages_keys(caller: Principal) -> bool:
    """ADMIN of the active tenant (or SUPER_ADMIN): sees and revokes every key of the tenant."""
    return highest_rank(caller.roles) <= rank("ADMIN")


async def list_keys(tx: Tx, caller: Principal, *, every: bool) -> list[ApiKey]:
    """Your keys in the active tenant, or (``every``, ADMIN) every key of the tenant."""
    if not every:
        return await repo.list_for_user(tx, caller.user_id)
    if not _manages_keys(caller):
        raise Forbidden("Only an ADMIN of the tenant may list every key")
    return await repo.list_for_tenant(tx)


async def revoke(tx: Tx, services: Services, caller: Principal, key_id: uuid.UUID) -> None:
    """Your own key, or (ADMIN) any key of the tenant. Refused at once on this process (the cache entry
    is evicted); the other processes drop their cached copy within the cache TTL."""
    row = await repo.get(tx, key_id)
    if row["user_id"] != caller.user_id and not _manages_keys(caller):
        raise Forbidden("This API key belongs to another user")
    if not await repo.revoke(tx, key_id):
        raise BadRequest("API key is already revoked")
    services.api_key_cache.evict(key_id)
