"""Results (CONTRACT.md §6): matching, standalone results, result-type rules, the terminal-result rule
and ``hard_override``; the result, the activity's status and its event are one transaction. Shared by
``POST /api/activity-results/tasks`` and the integration route."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from app.activities import lifecycle
from app.activities.lifecycle import ActivityRef
from app.db import Tx
from app.errors import BadRequest, Conflict, NotFound
from app.results import repo
from app.results.schemas import ActivityResult, FlatResultSubmit, IntegrationResultSubmit, ResultSubmit
from app.structs import invalid_input

__all__ = ("parse_either_revision", "submit")


def parse_either_revision(body: dict[str, Any]) -> ResultSubmit:
    """The nested snake_case body, or the flat camelCase revision (recognised by its camelCase keys)."""
    flat = "task_result" not in body and any(
        k in body for k in ("commerceExternalId", "resultTypeCode", "occurredAt")
    )
    shape = FlatResultSubmit if flat else ResultSubmit
    try:
        if flat:
            return msgspec.convert(body, FlatResultSubmit).nested()
        return msgspec.convert(body, ResultSubmit)
    except ValueError as exc:  # msgspec's ValidationError, or a rule of nested() refused
        raise invalid_input(exc, shape, whole="body") from exc


def _check_result_type(found: asyncpg.Record, data: ResultSubmit | IntegrationResultSubmit) -> None:
    task = data.task_result
    if not found["result_type_known"]:
        raise BadRequest.field("task_result.result", f"{task.result} is not an active task result type")
    if found["requires_future_scheduled_at"]:
        if task.future_scheduled_at is None:
            raise BadRequest.field(
                "task_result.future_scheduled_at", f"required by the result type {task.result}"
            )
        if task.future_scheduled_at <= datetime.now(UTC):
            raise BadRequest.field("task_result.future_scheduled_at", "must be in the future")


async def submit(tx: Tx, data: ResultSubmit | IntegrationResultSubmit) -> ActivityResult:
    found = await repo.submission_context(tx, data)
    activity_id = found["activity_id"]
    if activity_id is None:
        if data.activity_id is not None:
            raise NotFound.of("Activity")
        if found["commerce_id"] is None:
            raise NotFound.of("Commerce")
    else:
        if found["activity_type"] != "TASK":
            raise BadRequest.field("activity_id", "results are recorded for TASK activities only")
        if found["activity_commerce_external_id"] != data.commerce_external_id:
            raise BadRequest.field("commerce_external_id", "is not the commerce of the activity")
    _check_result_type(found, data)
    activity: ActivityRef | None = None
    if activity_id is not None:
        activity = ActivityRef(id=activity_id, status=found["activity_status"])
        stored = found["stored_status"]
        if stored is None and activity.status in lifecycle.TERMINAL:
            # Final without a result in this statement's snapshot: it may have waited for the row lock
            # of a submit that has committed one since (and then 409 is the answer, not 400).
            stored = await repo.stored_status(tx, activity_id)
        if stored is not None and stored != "PENDING" and not data.hard_override:
            raise Conflict(
                "The activity already has a registered result; send hard_override: true to replace it",
                extra={"activityId": str(activity_id)},
            )
        to_status = lifecycle.result_target(activity.status, data.status)
        if not data.hard_override:
            lifecycle.check(activity.status, to_status, "RESULT_RECEIVED")
    result = await repo.record_result(
        tx,
        data,
        activity_id=activity_id,
        commerce_id=found["activity_commerce_id"] if activity_id else found["commerce_id"],
        source="RETEN_ACTIVITY" if activity_id else "STANDALONE",
    )
    if activity is not None:
        await lifecycle.move(tx, activity, to_status, "RESULT_RECEIVED", force=data.hard_override)
    return result
