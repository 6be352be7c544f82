"""Creating an activity: target and attribute resolution (CONTRACT.md §5), idempotent by key.

The most frequent write: two statements besides BEGIN/COMMIT (read everything resolution needs, then one
INSERT of the activity with its target user, attributes and events)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec

from app.activities import lifecycle, repo
from app.activities.hooks import HookAnswers, due_hooks
from app.activities.resolution import Context, attribute_row
from app.activities.resolve import failures, hook_activity, resolved_target, summary, with_hooks
from app.activities.schemas import Activity, ActivityCreate, TaskCreate
from app.db import Tx
from app.errors import BadRequest, Conflict, NotFound

__all__ = ("create",)


def _assignment(data: ActivityCreate | TaskCreate) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The task's (route, operator), both or neither, and only on a TASK."""
    route_id, operator_id = data.assigned_route_id, data.assigned_operator_id
    if route_id is None and operator_id is None:
        return None, None
    if data.type != "TASK":
        raise BadRequest.field("assigned_route_id", "only a TASK has a route and an operator")
    if route_id is None or operator_id is None:
        missing = "assigned_route_id" if route_id is None else "assigned_operator_id"
        raise BadRequest.field(missing, "a task names both its route and its operator")
    return route_id, operator_id


def _check_assignment(row: asyncpg.Record) -> None:
    """The route and operator read with the resolution context must be there, active and linked."""
    for field, state, what in (
        ("assigned_route_id", row["route_active"], "route"),
        ("assigned_operator_id", row["operator_active"], "operator"),
    ):
        if state is None:
            raise BadRequest.field(field, f"{what} not found")
        if not state:
            raise BadRequest.field(field, f"the {what} is inactive")
    if not row["assigned"]:
        raise BadRequest.field("assigned_operator_id", "the operator is not assigned to the route")


def _target_row(ctx: Context, criteria: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The target user of a new activity: resolved now (ON_CREATION) or PENDING."""
    row: dict[str, Any] = {
        "commerce_user_id": None,
        "resolution_status": "PENDING",
        "resolution_strategy": ctx.strategy,
        "lock_reason": None,
        "error_message": None,
    }
    if ctx.strategy == "ON_CREATION":
        row.update(resolved_target(ctx, criteria))
    return row


def _attribute_rows(ctx: Context, data: ActivityCreate | TaskCreate, keys: list[str]) -> list[dict[str, Any]]:
    given = {a.key: a for a in data.attributes}
    rows = []
    for key in keys:
        policy = ctx.policies[key]
        entry = given.get(key)
        value = entry.value if entry else msgspec.UNSET
        if value is not msgspec.UNSET and not policy.caller_provided:
            index = data.attributes.index(entry)  # type: ignore[arg-type]
            raise BadRequest.field(
                f"attributes[{index}].value",
                f"the policy of {key} is {policy.strategy}/{policy.resolver_type}; only a CALLER_PROVIDED "
                "key takes a value (send `fallback` instead)",
            )
        rows.append(attribute_row(ctx, policy, value, entry.fallback if entry else msgspec.UNSET))
    return rows


def _requested_keys(data: ActivityCreate | TaskCreate) -> list[str]:
    """``attribute_keys`` plus the keys of ``attributes`` (each at most once there), in order."""
    seen: set[str] = set()
    for index, entry in enumerate(data.attributes):
        if entry.key in seen:
            raise BadRequest.field(f"attributes[{index}].key", f"{entry.key} is given twice")
        seen.add(entry.key)
    return list(dict.fromkeys([*data.attribute_keys, *(a.key for a in data.attributes)]))


async def create(
    tx: Tx,
    data: ActivityCreate | TaskCreate,
    *,
    activity_id: uuid.UUID | None = None,
    answers: HookAnswers | None = None,
) -> Activity:
    """A new activity, resolved per CONTRACT.md §5. A repeated idempotency key -> 409 with its id. With
    CLIENT_HOOKs to ask and no ``answers`` yet: HooksNeeded (after the 409 check, so a repeat asks no
    hook); the second run passes the answers and the same ``activity_id`` the hooks were told."""
    keys = _requested_keys(data)
    route_id, operator_id = _assignment(data)
    row = await repo.resolution_context(tx, data.commerce_id, data.channel, keys, route_id, operator_id)
    if row["id"] is None:  # unknown, or another tenant's: the create page's error table says 404
        raise NotFound.of("Commerce")
    if route_id is not None:
        _check_assignment(row)
    ctx = Context.from_row(row)
    if unknown := [k for k in keys if k not in ctx.policies]:
        raise BadRequest.field("attribute_keys", f"unknown attribute key {unknown[0]}")
    activity_id = activity_id or uuid.uuid4()
    now = [ctx.policies[k] for k in keys if not ctx.policies[k].at_dispatch]
    if answers is None and due_hooks(now):
        await _refuse_repeat(tx, data.idempotency_key)
    ctx = with_hooks(tx, ctx, answers, now, hook_activity(activity_id, data.type, data.channel, ctx))
    criteria = [c.as_dict() for c in data.target_criteria] if data.target_criteria is not None else None
    target = _target_row(ctx, criteria)
    attrs = _attribute_rows(ctx, data, keys)
    lifecycle.check(None, lifecycle.READY, "CREATED")
    events: list[dict[str, Any]] = [
        {"event_type": "CREATED", "from_status": None, "to_status": lifecycle.READY}
    ]
    status, last_error = lifecycle.READY, None
    if failed := failures([target], attrs, {p.key_id: k for k, p in ctx.policies.items()}):
        lifecycle.check(lifecycle.READY, lifecycle.UNRESOLVED, "RESOLUTION_FAILED")
        status, last_error = lifecycle.UNRESOLVED, summary(failed)
        events.append(
            {
                "event_type": "RESOLUTION_FAILED",
                "from_status": lifecycle.READY,
                "to_status": status,
                "error_code": "RESOLUTION_FAILED",
                "error_message": last_error,
            }
        )
    activity = await repo.insert_activity(
        tx,
        data,
        activity_id=activity_id,
        status=status,
        target_criteria=criteria,
        last_error=last_error,
        targets=[target],
        attributes=attrs,
        events=events,
    )
    if activity is None:  # the key is taken (by a create that committed meanwhile, at worst)
        await _refuse_repeat(tx, data.idempotency_key)
        raise Conflict("An activity with this idempotency_key already exists")
    if status == lifecycle.READY:
        await repo.notify_ready(tx)
    return activity


async def _refuse_repeat(tx: Tx, idempotency_key: str) -> None:
    """409 with the id of the activity that holds ``idempotency_key``, if one does."""
    existing = await repo.id_by_idempotency_key(tx, idempotency_key)
    if existing is not None:
        raise Conflict(
            "An activity with this idempotency_key already exists", extra={"activityId": str(existing)}
        )
