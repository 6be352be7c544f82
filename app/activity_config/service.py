"""Activity configuration: attribute keys and policies, target-resolution configs, task result types,
and the defaults a new tenant is seeded with (CONTRACT.md §3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.activity_config.schemas import (
    AttributeKey,
    AttributeKeyRef,
    AttributePolicy,
    AttributePolicySaved,
    AttributePolicyUpsert,
    HookSecret,
    ResultType,
    ResultTypeCreate,
    ResultTypeUpdate,
    TargetConfig,
    TargetConfigCreate,
    TargetConfigUpdate,
)
from app.db import Connection, fetch_one, json_param, queries, tenant_lock
from app.dispatch import signing
from app.dispatch.service import secret_ring
from app.errors import BadRequest, Conflict, NotFound
from app.state import Services
from app.structs import from_row, iso_ms, merge_patch, present

__all__ = (
    "attribute_keys",
    "create_result_type",
    "create_target_config",
    "delete_policy",
    "policies",
    "result_types",
    "rotate_hook_secret",
    "seed_defaults",
    "update_result_type",
    "update_target_config",
    "upsert_policy",
)

DEFAULT_RESULT_TYPES = (
    {"code": "SALE_COMPLETED", "label": "Venta completada", "requires_future_scheduled_at": False},
    {"code": "NOT_INTERESTED", "label": "No interesado", "requires_future_scheduled_at": False},
    {"code": "RESCHEDULE", "label": "Reprogramar visita", "requires_future_scheduled_at": True},
    {"code": "NO_CONTACT", "label": "Sin contacto", "requires_future_scheduled_at": False},
)


async def seed_defaults(conn: Connection, tenant_id: uuid.UUID) -> None:
    """The docs' example result types. No target-resolution config: a tenant without an active one
    resolves with ``app.activities.resolution.DEFAULT_CONFIG``, and its first config may take any
    priority (a seeded one held the documented default 0, so that first create answered 409)."""
    await queries.activity_config.seed_result_types(
        conn, tenant_id=tenant_id, rows=json_param(list(DEFAULT_RESULT_TYPES))
    )


# ---------------------------------------------------------------------------------------------------
# Attribute keys and policies
# ---------------------------------------------------------------------------------------------------
async def attribute_keys(conn: Connection) -> list[AttributeKey]:
    return [from_row(AttributeKey, r) async for r in queries.activity_config.attribute_keys(conn)]


def to_policy(row: Any) -> AttributePolicy:
    return from_row(
        AttributePolicy,
        row,
        resolution_strategy=row["strategy"],
        attribute_key=AttributeKeyRef(key=row["key"], label=row["label"]),
    )


async def policies(conn: Connection, tenant_id: uuid.UUID) -> list[AttributePolicy]:
    return [to_policy(r) async for r in queries.activity_config.policies(conn, tenant_id=tenant_id)]


async def upsert_policy(
    conn: Connection, services: Services, tenant_id: uuid.UUID, data: AttributePolicyUpsert
) -> AttributePolicySaved:
    """Create or replace the key's policy. A CLIENT_HOOK policy has its own signing secret: made (and
    answered this once) when the policy is created as CLIENT_HOOK or becomes one, kept while it stays
    one, dropped when it stops being one."""
    try:
        key_id, strategy, resolver, hook = data.normalized()
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise BadRequest.field(field, message) from exc
    if hook is not None:  # the address rules of provider URLs (the call goes through the guarded client)
        hook = await services.outbound_url(hook, "hook_url")
    if not await queries.activity_config.attribute_key_exists(conn, id=key_id):
        raise NotFound.of("Attribute key")
    # One upsert of the tenant's policies at a time: a new policy's secret is encrypted for the row id
    # chosen here, which a concurrent insert of the same key would otherwise take in its place.
    await tenant_lock(conn, tenant_id, "attribute-policy")
    current = await queries.activity_config.lock_policy(conn, tenant_id=tenant_id, attribute_key_id=key_id)
    policy_id = current["id"] if current is not None else uuid.uuid4()
    secrets: dict[str, Any] = dict.fromkeys(
        ("hook_secret", "hook_secret_previous", "hook_secret_previous_until")
    )
    made: str | None = None
    if resolver == "CLIENT_HOOK":
        if current is not None and current["resolver_type"] == "CLIENT_HOOK":
            secrets = {k: current[k] for k in secrets}  # kept (none on a policy from before secrets)
        else:
            secret = signing.new_secret()
            aad = signing.secret_aad(signing.HOOK_POLICY, tenant_id, policy_id)
            secrets["hook_secret"] = secret_ring(services).encrypt(secret, aad)
            made = signing.shown(secret)
    row = await queries.activity_config.upsert_policy(
        conn,
        tenant_id=tenant_id,
        id=policy_id,
        attribute_key_id=key_id,
        strategy=strategy,
        resolver_type=resolver,
        hook_url=hook,
        **secrets,
    )
    return AttributePolicySaved(**msgspec.structs.asdict(to_policy(row)), hook_secret=made)


async def rotate_hook_secret(
    conn: Connection, services: Services, tenant_id: uuid.UUID, policy_id: uuid.UUID
) -> HookSecret:
    """A new hook secret for a CLIENT_HOOK policy, shown once; the current one signs beside it for the
    overlap (a policy from before hook secrets gets its first one)."""
    current = await fetch_one(
        queries.activity_config.policy_hook_secret,
        "Attribute policy",
        conn,
        tenant_id=tenant_id,
        id=policy_id,
    )
    if current["resolver_type"] != "CLIENT_HOOK":
        raise BadRequest("Only a CLIENT_HOOK policy has a hook secret")
    ring = secret_ring(services)
    now = datetime.now(UTC)
    rotation = signing.rotate(ring, signing.HOOK_POLICY, tenant_id, policy_id, current["hook_secret"], now)
    await queries.activity_config.rotate_hook_secret(
        conn,
        tenant_id=tenant_id,
        id=policy_id,
        hook_secret=rotation.secret,
        hook_secret_previous=rotation.previous,
        hook_secret_previous_until=rotation.previous_until,
    )
    until = rotation.previous_until
    return HookSecret(hook_secret=rotation.shown, previous_secret_expires_at=iso_ms(until) if until else None)


async def delete_policy(conn: Connection, tenant_id: uuid.UUID, policy_id: uuid.UUID) -> None:
    if await queries.activity_config.delete_policy(conn, tenant_id=tenant_id, id=policy_id) is None:
        raise NotFound.of("Attribute policy")


# ---------------------------------------------------------------------------------------------------
# Target-resolution configs
# ---------------------------------------------------------------------------------------------------
def to_target_config(row: Any) -> TargetConfig:
    return from_row(TargetConfig, row, criteria=msgspec.json.decode(row["criteria"]))


async def target_configs(
    conn: Connection, tenant_id: uuid.UUID, config_id: uuid.UUID | None = None
) -> list[TargetConfig]:
    rows = queries.activity_config.target_configs(conn, tenant_id=tenant_id, id=config_id)
    return [to_target_config(r) async for r in rows]


async def _criteria(
    conn: Connection, tenant_id: uuid.UUID, config_id: uuid.UUID, criteria: list[Any]
) -> None:
    await queries.activity_config.replace_criteria(
        conn, tenant_id=tenant_id, config_id=config_id, rows=json_param([c.as_dict() for c in criteria])
    )


async def create_target_config(
    conn: Connection, tenant_id: uuid.UUID, data: TargetConfigCreate
) -> TargetConfig:
    fields = msgspec.structs.asdict(data)
    criteria = fields.pop("criteria")
    config_id = await queries.activity_config.insert_target_config(conn, tenant_id=tenant_id, **fields)
    await _criteria(conn, tenant_id, config_id, criteria)
    return (await target_configs(conn, tenant_id, config_id))[0]


async def update_target_config(
    conn: Connection, tenant_id: uuid.UUID, config_id: uuid.UUID, data: TargetConfigUpdate
) -> TargetConfig:
    current = await fetch_one(
        queries.activity_config.lock_target_config,
        "Target resolution config",
        conn,
        tenant_id=tenant_id,
        id=config_id,
    )
    changes = present(data)
    fields = ("resolution_strategy", "fallback_to_commerce_rep", "fallback_to_owner", "priority", "is_active")
    await queries.activity_config.update_target_config(
        conn, tenant_id=tenant_id, id=config_id, **merge_patch(current, changes, fields)
    )
    if "criteria" in changes:
        await _criteria(conn, tenant_id, config_id, changes["criteria"])
    return (await target_configs(conn, tenant_id, config_id))[0]


# ---------------------------------------------------------------------------------------------------
# Task result types
# ---------------------------------------------------------------------------------------------------
async def result_types(
    conn: Connection, tenant_id: uuid.UUID, *, active_only: bool = False
) -> list[ResultType]:
    rows = queries.activity_config.result_types(conn, tenant_id=tenant_id, active_only=active_only)
    return [from_row(ResultType, r) async for r in rows]


async def create_result_type(conn: Connection, tenant_id: uuid.UUID, data: ResultTypeCreate) -> ResultType:
    """A new type; an inactive one with the same code comes back with the new values; an active one 409."""
    row = await queries.activity_config.upsert_result_type(
        conn, tenant_id=tenant_id, **msgspec.structs.asdict(data)
    )
    if row is None:
        raise Conflict("code already exists")
    return from_row(ResultType, row)


async def update_result_type(
    conn: Connection, tenant_id: uuid.UUID, type_id: uuid.UUID, data: ResultTypeUpdate
) -> ResultType:
    current = await fetch_one(
        queries.activity_config.get_result_type, "Task result type", conn, tenant_id=tenant_id, id=type_id
    )
    fields = ("label", "requires_future_scheduled_at", "is_active")
    row = await queries.activity_config.update_result_type(
        conn, tenant_id=tenant_id, id=type_id, **merge_patch(current, present(data), fields)
    )
    return from_row(ResultType, row)
