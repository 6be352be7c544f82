"""Activities: create (with target and attribute resolution, idempotent), read, cancel, retry resolution,
manual target assignment, and the ON_DISPATCH resolution the dispatcher calls.

Creating an activity is the most frequent write: two statements besides BEGIN/COMMIT (read everything
resolution needs, then one INSERT of the activity with its target user, attributes and events)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

import msgspec

from app.activities import machine
from app.activities.hooks import HookAnswers, HooksNeeded, due_hooks
from app.activities.resolution import Context, Policy, attribute_row, resolve_attribute, resolve_target
from app.activities.schemas import (
    Activity,
    ActivityAttribute,
    ActivityCreate,
    CodeLabel,
    CommerceAssignment,
    CommerceRef,
    ManualResolve,
    NameRef,
    PersonName,
    StatusEvent,
    TargetUser,
    TaskCreate,
    TaskDetails,
)
from app.db import Connection, fetch_one, json_param, paginate, queries
from app.errors import BadRequest, Conflict, NotFound
from app.structs import Page, Pagination, from_row, join_name

__all__ = (
    "DispatchAttempt",
    "attributes",
    "cancel",
    "create",
    "get",
    "list_activities",
    "resolve_for_dispatch",
    "resolve_manually",
    "retry_resolution",
    "status_events",
    "target_users",
)


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------
def _label(code: str | None) -> CodeLabel | None:
    return CodeLabel(code=code, label=code) if code is not None else None


def to_activity(row: Any) -> Activity:
    task = None
    if row["type"] == "TASK":
        operator = join_name(row["operator_first_name"], row["operator_last_name"])
        task = TaskDetails(
            route_id=row["route_id"],
            operator_id=row["operator_id"],
            route=NameRef(name=row["route_name"]) if row["route_id"] else None,
            operator=NameRef(name=operator) if row["operator_id"] else None,
        )
    return from_row(
        Activity,
        row,
        reason=_label(row["reason"]),
        user_status=_label(row["user_status"]),
        task_details=task,
        commerce_assignment=CommerceAssignment(
            commerce_id=row["commerce_id"],
            commerce=CommerceRef(name=row["commerce_name"], external_id=row["commerce_external_id"]),
        ),
    )


async def get(conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> Activity:
    return to_activity(
        await fetch_one(
            queries.activities.get_activity, "Activity", conn, tenant_id=tenant_id, id=activity_id
        )
    )


async def list_activities(
    conn: Connection, tenant_id: uuid.UUID, page: Pagination, **filters: Any
) -> Page[Activity]:
    return await paginate(
        conn,
        page,
        queries.activities.list_activities,
        queries.activities.count_activities,
        to_activity,
        sort="scheduled_at",
        tenant_id=tenant_id,
        **filters,
    )


async def _rows_of(query: Any, conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> list[Any]:
    """An activity's sub-resource rows; 404 when there are none because there is no such activity (the
    existence query runs only then: events and targets are never empty)."""
    rows = [r async for r in query(conn, tenant_id=tenant_id, activity_id=activity_id)]
    if not rows and not await queries.activities.activity_exists(conn, tenant_id=tenant_id, id=activity_id):
        raise NotFound.of("Activity")
    return rows


async def status_events(conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> list[StatusEvent]:
    rows = await _rows_of(queries.activities.status_events, conn, tenant_id, activity_id)
    return [from_row(StatusEvent, r) for r in rows]


def to_target_user(row: Any) -> TargetUser:
    person = None
    if row["commerce_user_id"] is not None:
        person = PersonName(first_name=row["first_name"] or "", last_name=row["last_name"] or "")
    return from_row(TargetUser, row, commerce_user=person)


async def target_users(conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> list[TargetUser]:
    rows = await _rows_of(queries.activities.target_users, conn, tenant_id, activity_id)
    return [to_target_user(r) for r in rows]


async def attributes(
    conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID
) -> list[ActivityAttribute]:
    rows = await _rows_of(queries.activities.attributes, conn, tenant_id, activity_id)
    return [
        from_row(
            ActivityAttribute,
            r,
            value=msgspec.Raw(r["value"].encode()) if r["value"] is not None else None,
            resolver_type=None if r["resolution_status"] == "PENDING" else r["resolver_type"],
        )
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------------
# Creating
# ---------------------------------------------------------------------------------------------------
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


def _check_assignment(row: Any) -> None:
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


async def _context_row(
    conn: Connection,
    tenant_id: uuid.UUID,
    commerce_id: uuid.UUID,
    channel: str,
    keys: list[str],
    route_id: uuid.UUID | None = None,
    operator_id: uuid.UUID | None = None,
) -> Any:
    return await queries.activities.resolution_context(
        conn,
        tenant_id=tenant_id,
        commerce_id=commerce_id,
        channel=channel,
        keys=keys,
        route_id=route_id,
        operator_id=operator_id,
    )


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
        row.update(_resolved_target(ctx, criteria))
    return row


def _resolved_target(ctx: Context, criteria: list[dict[str, Any]] | None) -> dict[str, Any]:
    outcome = resolve_target(ctx, criteria)
    return {
        "commerce_user_id": outcome.commerce_user_id,
        "resolution_status": outcome.status,
        "lock_reason": outcome.lock_reason,
        "error_message": outcome.error,
    }


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


def _failures(targets: list[dict[str, Any]], attrs: list[dict[str, Any]], names: dict[Any, str]) -> list[str]:
    """What failed to resolve, for the message of a RESOLUTION_FAILED / RESOLUTION_RETRY_FAILED event."""
    out = [f"target user: {t['error_message']}" for t in targets if t["resolution_status"] == "FAILED"]
    out += [
        f"attribute {names[a['attribute_key_id']]}: {a['error_message']}"
        for a in attrs
        if a["resolution_status"] == "FAILED"
    ]
    return out


def _summary(failures: list[str]) -> str:
    return "; ".join(failures)[:4000]


def _requested_keys(data: ActivityCreate | TaskCreate) -> list[str]:
    """``attribute_keys`` plus the keys of ``attributes`` (each at most once there), in order."""
    seen: set[str] = set()
    for index, entry in enumerate(data.attributes):
        if entry.key in seen:
            raise BadRequest.field(f"attributes[{index}].key", f"{entry.key} is given twice")
        seen.add(entry.key)
    return list(dict.fromkeys([*data.attribute_keys, *(a.key for a in data.attributes)]))


def _hook_activity(activity_id: uuid.UUID, type_: str, channel: str, ctx: Context) -> dict[str, Any]:
    """What a CLIENT_HOOK is told about the activity it resolves a value for."""
    return {
        "id": str(activity_id),
        "type": type_,
        "channel": channel,
        "commerceId": str(ctx.commerce_id),
        "commerceExternalId": ctx.external_id,
    }


def _with_hooks(
    ctx: Context, answers: HookAnswers | None, policies: list[Policy], activity: dict[str, Any]
) -> Context:
    """``ctx`` with the answers of the CLIENT_HOOKs among ``policies``. Not asked yet (``answers`` is
    None) -> HooksNeeded: the caller's transaction rolls back and the hooks are asked holding nothing
    (``HookCaller.around``). A hook that joined the policies in between is not asked: it fails."""
    due = due_hooks(policies)
    if not due:
        return ctx
    if answers is None:
        raise HooksNeeded(due, activity)
    late = (False, "the key's policy changed while the hooks were asked; retry resolution")
    return dataclasses.replace(ctx, hooks={p.key: answers.get(p.key, late) for p in due})


async def create(
    conn: Connection,
    tenant_id: uuid.UUID,
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
    row = await _context_row(conn, tenant_id, data.commerce_id, data.channel, keys, route_id, operator_id)
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
        await _refuse_repeat(conn, tenant_id, data.idempotency_key)
    ctx = _with_hooks(ctx, answers, now, _hook_activity(activity_id, data.type, data.channel, ctx))
    criteria = [c.as_dict() for c in data.target_criteria] if data.target_criteria is not None else None
    target = _target_row(ctx, criteria)
    attrs = _attribute_rows(ctx, data, keys)
    machine.check(None, machine.READY, "CREATED")
    events = [{"event_type": "CREATED", "from_status": None, "to_status": machine.READY}]
    status, last_error = machine.READY, None
    if failures := _failures([target], attrs, {p.key_id: k for k, p in ctx.policies.items()}):
        machine.check(machine.READY, machine.UNRESOLVED, "RESOLUTION_FAILED")
        status, last_error = machine.UNRESOLVED, _summary(failures)
        events.append(
            {
                "event_type": "RESOLUTION_FAILED",
                "from_status": machine.READY,
                "to_status": status,
                "error_code": "RESOLUTION_FAILED",
                "error_message": last_error,
            }
        )
    row = await queries.activities.insert_activity(
        conn,
        tenant_id=tenant_id,
        id=activity_id,
        type=data.type,
        channel=data.channel,
        status=status,
        reason=data.reason,
        user_status=data.user_status,
        score=data.score,
        idempotency_key=data.idempotency_key,
        scheduled_at=data.scheduled_at,
        suggested_execution_time=data.suggested_execution_time,
        assignment_reason=data.assignment_reason,
        commerce_id=data.commerce_id,
        route_id=data.assigned_route_id,
        operator_id=data.assigned_operator_id,
        target_criteria=json_param(criteria) if criteria is not None else None,
        last_error=last_error,
        targets=json_param([target]),
        attributes=json_param(attrs),
        events=json_param(events),
    )
    if row is None:  # the key is taken (by a create that committed meanwhile, at worst)
        await _refuse_repeat(conn, tenant_id, data.idempotency_key)
        raise Conflict("An activity with this idempotency_key already exists")
    if status == machine.READY:
        await notify_ready(conn, tenant_id)
    return to_activity(row)


async def _refuse_repeat(conn: Connection, tenant_id: uuid.UUID, idempotency_key: str) -> None:
    """409 with the id of the activity that holds ``idempotency_key``, if one does."""
    existing = await queries.activities.id_by_idempotency_key(
        conn, tenant_id=tenant_id, idempotency_key=idempotency_key
    )
    if existing is not None:
        raise Conflict(
            "An activity with this idempotency_key already exists", extra={"activityId": str(existing)}
        )


# ---------------------------------------------------------------------------------------------------
# Changing status
# ---------------------------------------------------------------------------------------------------
async def lock(conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> Any:
    """The activity's row, locked until the transaction ends (every status change starts here)."""
    return await fetch_one(
        queries.activities.lock_activity, "Activity", conn, tenant_id=tenant_id, id=activity_id
    )


class DispatchAttempt(msgspec.Struct, frozen=True):
    """What a dispatch attempt adds to its transition: the provider's id (success) or when to try again
    (a failure that is not the last)."""

    provider_activity_id: str | None = None
    retry_at: datetime | None = None


async def move(
    conn: Connection,
    tenant_id: uuid.UUID,
    activity: Any,
    to_status: str,
    event: str,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    cancel_reason: str | None = None,
    force: bool = False,
    attempt: DispatchAttempt | None = None,
) -> None:
    """Apply a transition (checked by the machine unless ``force``) and write its event, atomically.
    ``activity`` is the row ``lock`` returned; ``attempt`` records a dispatch attempt with it."""
    if not force:
        machine.check(activity["status"], to_status, event)
    moved = await queries.activities.move(
        conn,
        tenant_id=tenant_id,
        id=activity["id"],
        from_status=activity["status"],
        to_status=to_status,
        event_type=event,
        error_code=error_code,
        error_message=error_message,
        cancel_reason=cancel_reason,
        provider_activity_id=attempt.provider_activity_id if attempt else None,
        attempted=attempt is not None,
        retry_at=attempt.retry_at if attempt else None,
    )
    if moved is None:  # cannot happen under the row lock; refuse rather than write half a change
        raise Conflict("The activity changed concurrently; retry")
    if to_status == machine.READY and activity["status"] != machine.READY:
        await notify_ready(conn, tenant_id)


async def notify_ready(conn: Connection, tenant_id: uuid.UUID) -> None:
    """Wake the dispatchers at commit: an activity of this tenant became READY."""
    await queries.activities.notify_ready(conn, tenant_id=tenant_id)


async def cancel(conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID, reason: str | None) -> None:
    activity = await lock(conn, tenant_id, activity_id)
    await move(conn, tenant_id, activity, machine.CANCELED, "CANCELED", cancel_reason=reason)


async def _reresolve(
    conn: Connection,
    tenant_id: uuid.UUID,
    activity: Any,
    *,
    wanted: frozenset[str],
    answers: HookAnswers | None = None,
) -> list[str]:
    """Resolve again the activity's target users and attributes whose status is in ``wanted`` (and not
    locked); write them; return what still failed."""
    targets = [
        r
        async for r in queries.activities.target_users(conn, tenant_id=tenant_id, activity_id=activity["id"])
        if r["resolution_status"] in wanted and r["locked_at"] is None
    ]
    attrs = [
        r
        async for r in queries.activities.attributes(conn, tenant_id=tenant_id, activity_id=activity["id"])
        if r["resolution_status"] in wanted
    ]
    if not targets and not attrs:
        return []
    row = await _context_row(
        conn, tenant_id, activity["commerce_id"], activity["channel"], [a["key"] for a in attrs]
    )
    ctx = Context.from_row(row)  # the activity references its commerce: it is there
    stored = activity["target_criteria"]
    criteria = msgspec.json.decode(stored) if stored is not None else None
    new_targets = []
    for t in targets:
        if t["resolution_strategy"] == "MANUAL":
            resolved = {
                "commerce_user_id": None,
                "resolution_status": "FAILED",
                "lock_reason": None,
                "error_message": "the target user awaits a manual assignment",
            }
        else:
            resolved = _resolved_target(ctx, criteria)
        new_targets.append({"id": t["id"], **resolved})
    policies = [
        Policy(
            key=a["key"],
            key_id=a["attribute_key_id"],
            strategy=a["strategy"],
            resolver_type=a["resolver_type"],
            hook_url=a["hook_url"],
            hook_signing=current.hook_signing if (current := ctx.policies.get(a["key"])) else None,
        )
        for a in attrs
    ]
    ctx = _with_hooks(
        ctx, answers, policies, _hook_activity(activity["id"], activity["type"], activity["channel"], ctx)
    )
    new_attrs = []
    for a, policy in zip(attrs, policies, strict=True):
        fallback = msgspec.json.decode(a["fallback"]) if a["fallback"] is not None else None
        resolved = resolve_attribute(ctx, policy, msgspec.UNSET, fallback)
        new_attrs.append(
            {
                "id": a["id"],
                "attribute_key_id": a["attribute_key_id"],
                "resolver_type": a["resolver_type"],
                **resolved,
            }
        )
    if new_targets:
        await queries.activities.update_targets(conn, tenant_id=tenant_id, rows=json_param(new_targets))
    if new_attrs:
        await queries.activities.update_attributes(conn, tenant_id=tenant_id, rows=json_param(new_attrs))
    return _failures(new_targets, new_attrs, {a["attribute_key_id"]: a["key"] for a in attrs})


async def retry_resolution(
    conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID, answers: HookAnswers | None = None
) -> Activity:
    """UNRESOLVED only: resolve the FAILED target users and attributes again; READY when none fails
    (HooksNeeded first when there are hooks to ask: run it again with their ``answers``)."""
    activity = await lock(conn, tenant_id, activity_id)
    if activity["status"] != machine.UNRESOLVED:
        raise BadRequest(
            f"Only an UNRESOLVED activity can retry resolution (this one is {activity['status']})"
        )
    failures = await _reresolve(conn, tenant_id, activity, wanted=frozenset({"FAILED"}), answers=answers)
    if failures:
        await _unresolved(conn, tenant_id, activity, "RESOLUTION_RETRY_FAILED", failures)
    else:
        await move(conn, tenant_id, activity, machine.READY, "RESOLUTION_RETRY_SUCCESS")
    return await get(conn, tenant_id, activity_id)


async def resolve_for_dispatch(
    conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID, answers: HookAnswers | None = None
) -> bool:
    """For the dispatcher, just before a READY activity is sent: resolve its PENDING (ON_DISPATCH and
    MANUAL) target users and ON_DISPATCH attributes. True when it may be dispatched; otherwise it has
    moved to UNRESOLVED with a RESOLUTION_FAILED event (HooksNeeded first when there are hooks to ask)."""
    activity = await lock(conn, tenant_id, activity_id)
    if activity["status"] != machine.READY:
        return False
    failures = await _reresolve(conn, tenant_id, activity, wanted=frozenset({"PENDING"}), answers=answers)
    if not failures:
        return True
    await _unresolved(conn, tenant_id, activity, "RESOLUTION_FAILED", failures)
    return False


async def _unresolved(
    conn: Connection, tenant_id: uuid.UUID, activity: Any, event: str, failures: list[str]
) -> None:
    """(Stay or become) UNRESOLVED with the event saying what failed."""
    await move(
        conn,
        tenant_id,
        activity,
        machine.UNRESOLVED,
        event,
        error_code="RESOLUTION_FAILED",
        error_message=_summary(failures),
    )


async def resolve_manually(
    conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID, target_id: uuid.UUID, data: ManualResolve
) -> TargetUser:
    """Assign a commerce user to a PENDING or FAILED (never locked) target user: LOCKED, MANUAL_ASSIGNMENT.
    It does not change the activity's status: an UNRESOLVED activity then retries resolution."""
    activity = await lock(conn, tenant_id, activity_id)
    if activity["status"] not in (machine.READY, machine.UNRESOLVED):
        raise BadRequest(f"The activity is {activity['status']}; its target can no longer change")
    target = await _target_user(conn, tenant_id, activity_id, target_id)
    if target is None:
        raise NotFound.of("Target user")
    if target["resolution_status"] not in ("PENDING", "FAILED") or target["locked_at"] is not None:
        raise BadRequest(
            f"The target user is {target['resolution_status']}; only PENDING or FAILED can be resolved"
        )
    person = await queries.activities.person_of_commerce(
        conn, tenant_id=tenant_id, commerce_id=activity["commerce_id"], id=data.commerce_user_id
    )
    if person is None:
        raise NotFound("Commerce user not found for this activity's commerce")
    if not person["is_active"]:
        raise BadRequest.field("commerce_user_id", "the commerce user is inactive")
    row = {
        "id": target_id,
        "commerce_user_id": data.commerce_user_id,
        "resolution_status": "LOCKED",
        "lock_reason": "MANUAL_ASSIGNMENT",
        "error_message": None,
    }
    await queries.activities.update_targets(conn, tenant_id=tenant_id, rows=json_param([row]))
    return to_target_user(await _target_user(conn, tenant_id, activity_id, target_id))


async def _target_user(
    conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID, target_id: uuid.UUID
) -> Any:
    rows = queries.activities.target_users(conn, tenant_id=tenant_id, activity_id=activity_id)
    return next((r for r in [r async for r in rows] if r["id"] == target_id), None)
