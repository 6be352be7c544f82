"""``/api/activity-config``: attribute keys (global, read) and the tenant's attribute policies (with their
hook secrets), target-resolution configs and task result types."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post

from app.activity_config import service
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
from app.auth.guards import access
from app.db import Tx
from app.state import Services

__all__ = ("ActivityConfigController",)

_RESULT_TYPES = "Addition (CONTRACT.md §6): the codes `task_result.result` takes."
_HOOK_SIGNED = (
    "Every hook call is signed as Standard Webhooks 1.0 does (addition): `webhook-id` (`msg_...`, new "
    "for each call: a hook is a query, not a retried event), `webhook-timestamp` (Unix seconds) and "
    '`webhook-signature` (`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, '
    "several separated by spaces), with the policy's own hook secret (`whsec_...`; e.g. "
    "`standardwebhooks.Webhook(secret).verify(body, headers)`). The secret is made when a CLIENT_HOOK "
    "policy is created or a policy becomes CLIENT_HOOK, and shown in that answer only (`hookSecret`), "
    "never by the list or a later upsert; it is kept while the policy stays CLIENT_HOOK, dropped when it "
    "stops being one, and stored encrypted like provider credentials. Policies saved before signing "
    "existed have none: their calls are unsigned until "
    "`POST /api/activity-config/attribute-policies/:id/hook-secret` makes one."
)


class ActivityConfigController(Controller):
    path = "/api/activity-config"
    tags = ["Activity configuration"]

    @get(
        "/attribute-keys",
        operation_id="ListAttributeKeys",
        summary="The global catalogue of attribute keys",
        **access("VIEW_ACTIVITIES", doc="Read-only; seeded when the service's migrations run."),
    )
    async def attribute_keys(self, tx: Tx) -> list[AttributeKey]:
        return await service.attribute_keys(tx.conn)

    @get(
        "/attribute-policies",
        operation_id="ListAttributePolicies",
        summary="The tenant's attribute policies",
        **access(
            "VIEW_ACTIVITIES",
            doc="Items carry both `strategy` and `resolutionStrategy` (the two revisions of the page). "
            "Hook secrets are never shown here.",
        ),
    )
    async def attribute_policies(self, tx: Tx) -> list[AttributePolicy]:
        return await service.policies(tx)

    @post(
        "/attribute-policies",
        operation_id="UpsertAttributePolicy",
        summary="Create or update the policy of one attribute key",
        status_code=200,
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="Upsert by attribute key. Either body revision: `{attributeKeyId, strategy, resolverType}` "
            "or `{attribute_key_id, resolution_strategy, resolver_type}`. A `CLIENT_HOOK` resolver "
            "needs `hook_url` (addition): https, and not a private, loopback or otherwise non-public "
            "address (the rules of dispatch `baseUrl`s). A key without a policy resolves `UPFRONT` by "
            "`INTERNAL_SERVICE`. Unknown attribute key -> 404. The hook is asked for the value (when the "
            "policy says: at creation or at dispatch) with `POST {hook_url}` and "
            "`{attributeKey, activity: {id, type, channel, commerceId, commerceExternalId}}`; it answers "
            '`{"value": ...}` within 5 s, or the attribute fails (and takes the caller\'s fallback). No '
            "database connection is held while a hook is asked. At most `HOOK_MAX_IN_FLIGHT_PER_TENANT` "
            "(8) hook calls of one tenant are in flight per process; beyond that the attribute fails at "
            "once (`HOOK_BUSY`).\n\n" + _HOOK_SIGNED,
            statuses=(404,),
        ),
    )
    async def upsert_attribute_policy(
        self, tx: Tx, services: Services, data: AttributePolicyUpsert
    ) -> AttributePolicySaved:
        return await service.upsert_policy(tx, services, data)

    @post(
        "/attribute-policies/{policy_id:uuid}/hook-secret",
        operation_id="RotateAttributePolicyHookSecret",
        summary="Rotate a CLIENT_HOOK policy's hook secret (addition)",
        status_code=200,
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="Makes a new hook secret and answers it this once (`hookSecret`). The previous one keeps "
            "signing beside it for 24 h (`previousSecretExpiresAt`; two signatures in `webhook-signature`), "
            "so the hook can switch without losing a call; then only the new one signs. A policy saved "
            "before signing existed gets its first secret. Not a CLIENT_HOOK policy -> 400; another "
            "tenant's or an unknown id -> 404.\n\n" + _HOOK_SIGNED,
        ),
    )
    async def rotate_hook_secret(self, tx: Tx, services: Services, policy_id: uuid.UUID) -> HookSecret:
        return await service.rotate_hook_secret(tx, services, policy_id)

    @delete(
        "/attribute-policies/{policy_id:uuid}",
        operation_id="DeleteAttributePolicy",
        summary="Remove an attribute policy",
        **access(
            "MANAGE_ACTIVITY_CONFIG", doc="Addition. The key then resolves UPFRONT by INTERNAL_SERVICE."
        ),
    )
    async def delete_attribute_policy(self, tx: Tx, policy_id: uuid.UUID) -> None:
        await service.delete_policy(tx, policy_id)

    @get(
        "/target-resolution",
        operation_id="ListTargetResolutionConfigs",
        summary="The tenant's target-resolution configs",
        **access(
            "VIEW_ACTIVITIES",
            doc="Active configs first, by priority (lower first); the first active one is used. A new "
            "tenant has none: with no active config, activities resolve with the built-in default "
            "(`ON_CREATION`, `ROLE_MATCH` `COMMERCE_REP` at priority 0, both fallbacks on).",
        ),
    )
    async def target_configs(self, tx: Tx) -> list[TargetConfig]:
        return await service.target_configs(tx)

    @post(
        "/target-resolution",
        operation_id="CreateTargetResolutionConfig",
        summary="Create a target-resolution config",
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="`priority` must be unique among active configs (409). Criteria: `{type, config, "
            "priority}`; `ROLE_MATCH` needs `config.role`.",
            statuses=(409,),
        ),
    )
    async def create_target_config(self, tx: Tx, data: TargetConfigCreate) -> TargetConfig:
        return await service.create_target_config(tx, data)

    @patch(
        "/target-resolution/{config_id:uuid}",
        operation_id="UpdateTargetResolutionConfig",
        summary="Update a target-resolution config",
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="All fields optional; `criteria`, when sent, replaces them all.",
            statuses=(409,),
        ),
    )
    async def update_target_config(
        self, tx: Tx, config_id: uuid.UUID, data: TargetConfigUpdate
    ) -> TargetConfig:
        return await service.update_target_config(tx, config_id, data)

    @delete(
        "/target-resolution/{config_id:uuid}",
        operation_id="DeleteTargetResolutionConfig",
        summary="Deactivate a target-resolution config",
        **access("MANAGE_ACTIVITY_CONFIG", doc="Soft delete (`isActive=false`)."),
    )
    async def delete_target_config(self, tx: Tx, config_id: uuid.UUID) -> None:
        await service.update_target_config(tx, config_id, TargetConfigUpdate(is_active=False))

    @get(
        "/task-result-types",
        operation_id="ListTaskResultTypes",
        summary="The tenant's task result types",
        **access("VIEW_ACTIVITIES", doc=f"{_RESULT_TYPES} Inactive types are listed with `isActive=false`."),
    )
    async def result_types(self, tx: Tx) -> list[ResultType]:
        return await service.result_types(tx)

    @post(
        "/task-result-types",
        operation_id="CreateTaskResultType",
        summary="Create a task result type",
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc=f"{_RESULT_TYPES} `code` unique per tenant (409); a deactivated type with the same code is "
            "reactivated with the new values.",
            statuses=(409,),
        ),
    )
    async def create_result_type(self, tx: Tx, data: ResultTypeCreate) -> ResultType:
        return await service.create_result_type(tx, data)

    @patch(
        "/task-result-types/{type_id:uuid}",
        operation_id="UpdateTaskResultType",
        summary="Update a task result type",
        **access("MANAGE_ACTIVITY_CONFIG", doc=f"{_RESULT_TYPES} `code` cannot change."),
    )
    async def update_result_type(self, tx: Tx, type_id: uuid.UUID, data: ResultTypeUpdate) -> ResultType:
        return await service.update_result_type(tx, type_id, data)

    @delete(
        "/task-result-types/{type_id:uuid}",
        operation_id="DeleteTaskResultType",
        summary="Deactivate a task result type",
        **access(
            "MANAGE_ACTIVITY_CONFIG", doc=f"{_RESULT_TYPES} Soft delete; stored results keep their code."
        ),
    )
    async def delete_result_type(self, tx: Tx, type_id: uuid.UUID) -> None:
        await service.update_result_type(tx, type_id, ResultTypeUpdate(is_active=False))
