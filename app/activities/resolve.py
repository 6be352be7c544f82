"""Resolving an existing activity's target users and attributes again: retry resolution (UNRESOLVED),
the ON_DISPATCH resolution the dispatcher runs just before sending, and manual target assignment. Also
the pieces creation shares (what a resolved target row holds, what failed, the CLIENT_HOOK step)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import asyncpg
import msgspec

from app.activities import lifecycle, repo
from app.activities.hooks import HookAnswers, HooksNeeded, due_hooks
from app.activities.resolution import Context, Policy, resolve_attribute, resolve_target
from app.activities.schemas import Activity, LockedActivity, ManualResolve, TargetUser
from app.db import Tx
from app.errors import BadRequest, NotFound

__all__ = (
    "failures",
    "hook_activity",
    "resolve_for_dispatch",
    "resolve_manually",
    "resolved_target",
    "retry_resolution",
    "summary",
    "with_hooks",
)


# ---------------------------------------------------------------------------------------------------
# Shared with creation
# ---------------------------------------------------------------------------------------------------
def resolved_target(ctx: Context, criteria: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The resolution columns of a target user resolved now."""
    outcome = resolve_target(ctx, criteria)
    return {
        "commerce_user_id": outcome.commerce_user_id,
        "resolution_status": outcome.status,
        "lock_reason": outcome.lock_reason,
        "error_message": outcome.error,
    }


def failures(targets: list[dict[str, Any]], attrs: list[dict[str, Any]], names: dict[Any, str]) -> list[str]:
    """What failed to resolve, for the message of a RESOLUTION_FAILED / RESOLUTION_RETRY_FAILED event."""
    out = [f"target user: {t['error_message']}" for t in targets if t["resolution_status"] == "FAILED"]
    out += [
        f"attribute {names[a['attribute_key_id']]}: {a['error_message']}"
        for a in attrs
        if a["resolution_status"] == "FAILED"
    ]
    return out


def summary(found: list[str]) -> str:
    return "; ".join(found)[:4000]


def hook_activity(activity_id: uuid.UUID, type_: str, channel: str, ctx: Context) -> dict[str, Any]:
    """What a CLIENT_HOOK is told about the activity it resolves a value for."""
    return {
        "id": str(activity_id),
        "type": type_,
        "channel": channel,
        "commerceId": str(ctx.commerce_id),
        "commerceExternalId": ctx.external_id,
    }


def with_hooks(
    tx: Tx, ctx: Context, answers: HookAnswers | None, policies: list[Policy], activity: dict[str, Any]
) -> Context:
    """``ctx`` with the answers of the CLIENT_HOOKs among ``policies``. Not asked yet (``answers`` is
    None) -> HooksNeeded (for ``tx``'s tenant): the caller's transaction rolls back and the hooks are
    asked holding nothing (``HookCaller.around``). A hook that joined the policies in between is not
    asked: it fails."""
    due = due_hooks(policies)
    if not due:
        return ctx
    if answers is None:
        raise HooksNeeded(tx.tenant_id, due, activity)
    late = (False, "the key's policy changed while the hooks were asked; retry resolution")
    return dataclasses.replace(ctx, hooks={p.key: answers.get(p.key, late) for p in due})


# ---------------------------------------------------------------------------------------------------
# Resolving again
# ---------------------------------------------------------------------------------------------------
async def _reresolve(
    tx: Tx, activity: LockedActivity, *, wanted: frozenset[str], answers: HookAnswers | None = None
) -> list[str]:
    """Resolve again the activity's target users and attributes whose status is in ``wanted`` (and not
    locked); write them; return what still failed."""
    targets = [
        r
        for r in await repo.target_user_rows(tx, activity.id)
        if r["resolution_status"] in wanted and r["locked_at"] is None
    ]
    attrs = [r for r in await repo.attribute_rows(tx, activity.id) if r["resolution_status"] in wanted]
    if not targets and not attrs:
        return []
    row = await repo.resolution_context(tx, activity.commerce_id, activity.channel, [a["key"] for a in attrs])
    ctx = Context.from_row(row)  # the activity references its commerce: it is there
    stored = activity.target_criteria
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
            resolved = resolved_target(ctx, criteria)
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
    ctx = with_hooks(
        tx, ctx, answers, policies, hook_activity(activity.id, activity.type, activity.channel, ctx)
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
        await repo.update_targets(tx, new_targets)
    if new_attrs:
        await repo.update_attributes(tx, new_attrs)
    return failures(new_targets, new_attrs, {a["attribute_key_id"]: a["key"] for a in attrs})


async def retry_resolution(tx: Tx, activity_id: uuid.UUID, answers: HookAnswers | None = None) -> Activity:
    """UNRESOLVED only: resolve the FAILED target users and attributes again; READY when none fails
    (HooksNeeded first when there are hooks to ask: run it again with their ``answers``)."""
    activity = await lifecycle.lock(tx, activity_id)
    if activity.status != lifecycle.UNRESOLVED:
        raise BadRequest(f"Only an UNRESOLVED activity can retry resolution (this one is {activity.status})")
    failed = await _reresolve(tx, activity, wanted=frozenset({"FAILED"}), answers=answers)
    if failed:
        await _unresolved(tx, activity, "RESOLUTION_RETRY_FAILED", failed)
    else:
        await lifecycle.move(tx, activity, lifecycle.READY, "RESOLUTION_RETRY_SUCCESS")
    return await repo.get_activity(tx, activity_id)


async def resolve_for_dispatch(tx: Tx, activity_id: uuid.UUID, answers: HookAnswers | None = None) -> bool:
    """For the dispatcher, just before a READY activity is sent: resolve its PENDING (ON_DISPATCH and
    MANUAL) target users and ON_DISPATCH attributes. True when it may be dispatched; otherwise it has
    moved to UNRESOLVED with a RESOLUTION_FAILED event (HooksNeeded first when there are hooks to ask)."""
    activity = await lifecycle.lock(tx, activity_id)
    if activity.status != lifecycle.READY:
        return False
    failed = await _reresolve(tx, activity, wanted=frozenset({"PENDING"}), answers=answers)
    if not failed:
        return True
    await _unresolved(tx, activity, "RESOLUTION_FAILED", failed)
    return False


async def _unresolved(tx: Tx, activity: LockedActivity, event: str, failed: list[str]) -> None:
    """(Stay or become) UNRESOLVED with the event saying what failed."""
    await lifecycle.move(
        tx,
        activity,
        lifecycle.UNRESOLVED,
        event,
        error_code="RESOLUTION_FAILED",
        error_message=summary(failed),
    )


# ---------------------------------------------------------------------------------------------------
# Manual target assignment
# ---------------------------------------------------------------------------------------------------
async def resolve_manually(
    tx: Tx, activity_id: uuid.UUID, target_id: uuid.UUID, data: ManualResolve
) -> TargetUser:
    """Assign a commerce user to a PENDING or FAILED (never locked) target user: LOCKED, MANUAL_ASSIGNMENT.
    It does not change the activity's status: an UNRESOLVED activity then retries resolution."""
    activity = await lifecycle.lock(tx, activity_id)
    if activity.status not in (lifecycle.READY, lifecycle.UNRESOLVED):
        raise BadRequest(f"The activity is {activity.status}; its target can no longer change")
    target = await _target_user(tx, activity_id, target_id)
    if target is None:
        raise NotFound.of("Target user")
    if target["resolution_status"] not in ("PENDING", "FAILED") or target["locked_at"] is not None:
        raise BadRequest(
            f"The target user is {target['resolution_status']}; only PENDING or FAILED can be resolved"
        )
    person = await repo.person_of_commerce(tx, activity.commerce_id, data.commerce_user_id)
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
    await repo.update_targets(tx, [row])
    assigned = await _target_user(tx, activity_id, target_id)
    assert assigned is not None  # written just now, in this transaction
    return repo.to_target_user(assigned)


async def _target_user(tx: Tx, activity_id: uuid.UUID, target_id: uuid.UUID) -> asyncpg.Record | None:
    return next((r for r in await repo.target_user_rows(tx, activity_id) if r["id"] == target_id), None)
