"""Activity configuration: attribute keys and policies, target-resolution configs, task result types,
and the defaults a new tenant is seeded with (CONTRACT.md §3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.activity_config import repo
from app.activity_config.schemas import (
    AttributeKey,
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
from app.db import Connection, Tx, tenant_lock
from app.errors import BadRequest, Conflict, NotFound
from app.outbound import signing
from app.state import Services
from app.structs import iso_ms, merge_patch, present

__all__ = (
    "attribute_keys",
    "create_result_type",
    "create_target_config",
    "delete_policy",
    "policies",
    "result_types",
    "rotate_hook_secret",
    "seed_defaults",
    "target_configs",
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


async def seed_defaults(tx: Tx) -> None:
    """The docs' example result types. No target-resolution config: a tenant without an active one
    resolves with ``app.activities.resolution.DEFAULT_CONFIG``, and its first config may take any
    priority (a seeded one held the documented default 0, so that first create answered 409)."""
    await repo.seed_result_types(tx, list(DEFAULT_RESULT_TYPES))


# ---------------------------------------------------------------------------------------------------
# Attribute keys and policies
# ---------------------------------------------------------------------------------------------------
async def attribute_keys(conn: Connection) -> list[AttributeKey]:
    return await repo.attribute_keys(conn)


async def policies(tx: Tx) -> list[AttributePolicy]:
    return await repo.policies(tx)


async def upsert_policy(tx: Tx, services: Services, data: AttributePolicyUpsert) -> AttributePolicySaved:
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
    if not await repo.attribute_key_exists(tx.conn, key_id):
        raise NotFound.of("Attribute key")
    # One upsert of the tenant's policies at a time: a new policy's secret is encrypted for the row id
    # chosen here, which a concurrent insert of the same key would otherwise take in its place.
    await tenant_lock(tx.conn, tx.tenant_id, "attribute-policy")
    current = await repo.lock_policy(tx, key_id)
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
            aad = signing.secret_aad(signing.HOOK_POLICY, tx.tenant_id, policy_id)
            secrets["hook_secret"] = services.signing_ring().encrypt(secret, aad)
            made = signing.shown(secret)
    policy = await repo.upsert_policy(
        tx,
        policy_id=policy_id,
        attribute_key_id=key_id,
        strategy=strategy,
        resolver_type=resolver,
        hook_url=hook,
        **secrets,
    )
    return AttributePolicySaved(**msgspec.structs.asdict(policy), hook_secret=made)


async def rotate_hook_secret(tx: Tx, services: Services, policy_id: uuid.UUID) -> HookSecret:
    """A new hook secret for a CLIENT_HOOK policy, shown once; the current one signs beside it for the
    overlap (a policy from before hook secrets gets its first one)."""
    current = await repo.policy_hook_secret(tx, policy_id)
    if current["resolver_type"] != "CLIENT_HOOK":
        raise BadRequest("Only a CLIENT_HOOK policy has a hook secret")
    ring = services.signing_ring()
    now = datetime.now(UTC)
    rotation = signing.rotate(ring, signing.HOOK_POLICY, tx.tenant_id, policy_id, current["hook_secret"], now)
    await repo.rotate_hook_secret(
        tx,
        policy_id,
        hook_secret=rotation.secret,
        hook_secret_previous=rotation.previous,
        hook_secret_previous_until=rotation.previous_until,
    )
    until = rotation.previous_until
    return HookSecret(hook_secret=rotation.shown, previous_secret_expires_at=iso_ms(until) if until else None)


async def delete_policy(tx: Tx, policy_id: uuid.UUID) -> None:
    if not await repo.delete_policy(tx, policy_id):
        raise NotFound.of("Attribute policy")


# ---------------------------------------------------------------------------------------------------
# Target-resolution configs
# ---------------------------------------------------------------------------------------------------
async def target_configs(tx: Tx, config_id: uuid.UUID | None = None) -> list[TargetConfig]:
    return await repo.target_configs(tx, config_id)


async def _criteria(tx: Tx, config_id: uuid.UUID, criteria: list[Any]) -> None:
    await repo.replace_criteria(tx, config_id, [c.as_dict() for c in criteria])


async def create_target_config(tx: Tx, data: TargetConfigCreate) -> TargetConfig:
    fields = msgspec.structs.asdict(data)
    criteria = fields.pop("criteria")
    config_id = await repo.insert_target_config(tx, **fields)
    await _criteria(tx, config_id, criteria)
    return (await target_configs(tx, config_id))[0]


async def update_target_config(tx: Tx, config_id: uuid.UUID, data: TargetConfigUpdate) -> TargetConfig:
    current = await repo.lock_target_config(tx, config_id)
    changes = present(data)
    fields = ("resolution_strategy", "fallback_to_commerce_rep", "fallback_to_owner", "priority", "is_active")
    await repo.update_target_config(tx, config_id, **merge_patch(current, changes, fields))
    if "criteria" in changes:
        await _criteria(tx, config_id, changes["criteria"])
    return (await target_configs(tx, config_id))[0]


# ---------------------------------------------------------------------------------------------------
# Task result types
# ---------------------------------------------------------------------------------------------------
async def result_types(tx: Tx, *, active_only: bool = False) -> list[ResultType]:
    return await repo.result_types(tx, active_only=active_only)


async def create_result_type(tx: Tx, data: ResultTypeCreate) -> ResultType:
    """A new type; an inactive one with the same code comes back with the new values; an active one 409."""
    created = await repo.upsert_result_type(tx, data)
    if created is None:
        raise Conflict("code already exists")
    return created


async def update_result_type(tx: Tx, type_id: uuid.UUID, data: ResultTypeUpdate) -> ResultType:
    current = await repo.get_result_type(tx, type_id)
    fields = ("label", "requires_future_scheduled_at", "is_active")
    return await repo.update_result_type(tx, type_id, **merge_patch(current, present(data), fields))
