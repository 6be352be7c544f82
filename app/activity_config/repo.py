"""Typed access to activity configuration: the global attribute keys, and the tenant's attribute policies
(with their hook secrets), target-resolution configs and task result types. The only module of the
domain that names ``queries.activity_config``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from app.activity_config.schemas import (
    AttributeKey,
    AttributeKeyRef,
    AttributePolicy,
    ResultType,
    ResultTypeCreate,
    TargetConfig,
)
from app.db import Connection, Tx, fetch_one, json_param, queries
from app.structs import from_row

__all__ = (
    "attribute_key_exists",
    "attribute_keys",
    "delete_policy",
    "get_result_type",
    "insert_target_config",
    "lock_policy",
    "lock_target_config",
    "policies",
    "policies_with_hook_secrets",
    "policy_hook_secret",
    "replace_criteria",
    "result_types",
    "rotate_hook_secret",
    "seed_result_types",
    "set_hook_secrets",
    "target_configs",
    "to_policy",
    "to_target_config",
    "update_result_type",
    "update_target_config",
    "upsert_policy",
    "upsert_result_type",
)


# ---------------------------------------------------------------------------------------------------
# Mappers
# ---------------------------------------------------------------------------------------------------
def to_policy(row: asyncpg.Record) -> AttributePolicy:
    return from_row(
        AttributePolicy,
        row,
        resolution_strategy=row["strategy"],
        attribute_key=AttributeKeyRef(key=row["key"], label=row["label"]),
    )


def to_target_config(row: asyncpg.Record) -> TargetConfig:
    return from_row(TargetConfig, row, criteria=msgspec.json.decode(row["criteria"]))


# ---------------------------------------------------------------------------------------------------
# Attribute keys (global) and the tenant's policies
# ---------------------------------------------------------------------------------------------------
async def attribute_keys(conn: Connection) -> list[AttributeKey]:
    return [from_row(AttributeKey, r) async for r in queries.activity_config.attribute_keys(conn)]


async def attribute_key_exists(conn: Connection, key_id: uuid.UUID) -> bool:
    return bool(await queries.activity_config.attribute_key_exists(conn, id=key_id))


async def policies(tx: Tx) -> list[AttributePolicy]:
    return [to_policy(r) async for r in queries.activity_config.policies(tx.conn, tenant_id=tx.tenant_id)]


async def lock_policy(tx: Tx, attribute_key_id: uuid.UUID) -> asyncpg.Record | None:
    """The key's policy as stored (hook secrets included), row-locked; None when it has none."""
    row: asyncpg.Record | None = await queries.activity_config.lock_policy(
        tx.conn, tenant_id=tx.tenant_id, attribute_key_id=attribute_key_id
    )
    return row


async def upsert_policy(
    tx: Tx,
    *,
    policy_id: uuid.UUID,
    attribute_key_id: uuid.UUID,
    strategy: str,
    resolver_type: str,
    hook_url: str | None,
    hook_secret: bytes | None,
    hook_secret_previous: bytes | None,
    hook_secret_previous_until: datetime | None,
) -> AttributePolicy:
    row = await queries.activity_config.upsert_policy(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=policy_id,
        attribute_key_id=attribute_key_id,
        strategy=strategy,
        resolver_type=resolver_type,
        hook_url=hook_url,
        hook_secret=hook_secret,
        hook_secret_previous=hook_secret_previous,
        hook_secret_previous_until=hook_secret_previous_until,
    )
    return to_policy(row)


async def policy_hook_secret(tx: Tx, policy_id: uuid.UUID) -> asyncpg.Record:
    """The policy's resolver type and current hook secret; 404 when the tenant has no such policy."""
    row: asyncpg.Record = await fetch_one(
        queries.activity_config.policy_hook_secret,
        "Attribute policy",
        tx.conn,
        tenant_id=tx.tenant_id,
        id=policy_id,
    )
    return row


async def rotate_hook_secret(
    tx: Tx,
    policy_id: uuid.UUID,
    *,
    hook_secret: bytes,
    hook_secret_previous: bytes | None,
    hook_secret_previous_until: datetime | None,
) -> None:
    await queries.activity_config.rotate_hook_secret(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=policy_id,
        hook_secret=hook_secret,
        hook_secret_previous=hook_secret_previous,
        hook_secret_previous_until=hook_secret_previous_until,
    )


async def delete_policy(tx: Tx, policy_id: uuid.UUID) -> bool:
    """Whether there was such a policy (now gone)."""
    return (
        await queries.activity_config.delete_policy(tx.conn, tenant_id=tx.tenant_id, id=policy_id) is not None
    )


# Key rotation (``reten keys rotate``).
async def policies_with_hook_secrets(tx: Tx) -> list[asyncpg.Record]:
    rows = queries.activity_config.policies_with_hook_secrets(tx.conn, tenant_id=tx.tenant_id)
    return [r async for r in rows]


async def set_hook_secrets(
    tx: Tx, policy_id: uuid.UUID, *, hook_secret: bytes | None, hook_secret_previous: bytes | None
) -> None:
    await queries.activity_config.set_hook_secrets(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=policy_id,
        hook_secret=hook_secret,
        hook_secret_previous=hook_secret_previous,
    )


# ---------------------------------------------------------------------------------------------------
# Target-resolution configs
# ---------------------------------------------------------------------------------------------------
async def target_configs(tx: Tx, config_id: uuid.UUID | None = None) -> list[TargetConfig]:
    """The tenant's configs (or the one ``config_id``), active first by priority."""
    rows = queries.activity_config.target_configs(tx.conn, tenant_id=tx.tenant_id, id=config_id)
    return [to_target_config(r) async for r in rows]


async def insert_target_config(
    tx: Tx,
    *,
    resolution_strategy: str,
    fallback_to_commerce_rep: bool,
    fallback_to_owner: bool,
    priority: int,
    is_active: bool,
) -> uuid.UUID:
    """The new config's id (its criteria: ``replace_criteria``)."""
    config_id: uuid.UUID = await queries.activity_config.insert_target_config(
        tx.conn,
        tenant_id=tx.tenant_id,
        resolution_strategy=resolution_strategy,
        fallback_to_commerce_rep=fallback_to_commerce_rep,
        fallback_to_owner=fallback_to_owner,
        priority=priority,
        is_active=is_active,
    )
    return config_id


async def lock_target_config(tx: Tx, config_id: uuid.UUID) -> asyncpg.Record:
    """The config as stored, row-locked; 404 when the tenant has no such config."""
    row: asyncpg.Record = await fetch_one(
        queries.activity_config.lock_target_config,
        "Target resolution config",
        tx.conn,
        tenant_id=tx.tenant_id,
        id=config_id,
    )
    return row


async def update_target_config(
    tx: Tx,
    config_id: uuid.UUID,
    *,
    resolution_strategy: str,
    fallback_to_commerce_rep: bool,
    fallback_to_owner: bool,
    priority: int,
    is_active: bool,
) -> None:
    await queries.activity_config.update_target_config(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=config_id,
        resolution_strategy=resolution_strategy,
        fallback_to_commerce_rep=fallback_to_commerce_rep,
        fallback_to_owner=fallback_to_owner,
        priority=priority,
        is_active=is_active,
    )


async def replace_criteria(tx: Tx, config_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    """The config's criteria, all replaced by ``rows`` (sent as JSON)."""
    await queries.activity_config.replace_criteria(
        tx.conn, tenant_id=tx.tenant_id, config_id=config_id, rows=json_param(rows)
    )


# ---------------------------------------------------------------------------------------------------
# Task result types
# ---------------------------------------------------------------------------------------------------
async def seed_result_types(tx: Tx, rows: list[dict[str, Any]]) -> None:
    await queries.activity_config.seed_result_types(tx.conn, tenant_id=tx.tenant_id, rows=json_param(rows))


async def result_types(tx: Tx, *, active_only: bool = False) -> list[ResultType]:
    rows = queries.activity_config.result_types(tx.conn, tenant_id=tx.tenant_id, active_only=active_only)
    return [from_row(ResultType, r) async for r in rows]


async def upsert_result_type(tx: Tx, data: ResultTypeCreate) -> ResultType | None:
    """A new type, or an inactive one with the same code back with the new values; None when an active
    one has the code."""
    row = await queries.activity_config.upsert_result_type(
        tx.conn, tenant_id=tx.tenant_id, **msgspec.structs.asdict(data)
    )
    return from_row(ResultType, row) if row is not None else None


async def get_result_type(tx: Tx, type_id: uuid.UUID) -> asyncpg.Record:
    """The type as stored; 404 when the tenant has no such type."""
    row: asyncpg.Record = await fetch_one(
        queries.activity_config.get_result_type,
        "Task result type",
        tx.conn,
        tenant_id=tx.tenant_id,
        id=type_id,
    )
    return row


async def update_result_type(
    tx: Tx, type_id: uuid.UUID, *, label: str, requires_future_scheduled_at: bool, is_active: bool
) -> ResultType:
    row = await queries.activity_config.update_result_type(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=type_id,
        label=label,
        requires_future_scheduled_at=requires_future_scheduled_at,
        is_active=is_active,
    )
    return from_row(ResultType, row)
