"""Results (CONTRACT.md §6): matching, standalone results, result-type rules, the terminal-result rule
and ``hard_override``; the result, the activity's status and its event are one transaction. Shared by
``POST /api/activity-results/tasks`` and the integration route."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.activities import machine
from app.activities.service import move
from app.db import Connection, json_param, queries
from app.errors import BadRequest, Conflict, NotFound
from app.results.schemas import (
    ActivityResult,
    FlatResultSubmit,
    IntegrationResultSubmit,
    ResultSubmit,
    TaskResult,
)
from app.structs import from_row, invalid_input, iso_ms

__all__ = ("parse_either_revision", "submit")


def parse_either_revision(body: dict[str, Any]) -> ResultSubmit:
    """The nested snake_case body, or the flat camelCase revision (recognised by its camelCase keys)."""
    flat = "task_result" not in body and any(
        k in body for k in ("commerceExternalId", "resultTypeCode", "occurredAt")
    )
    shape = FlatResultSubmit if flat else ResultSubmit
    try:
        parsed = msgspec.convert(body, shape)
        return parsed.nested() if isinstance(parsed, FlatResultSubmit) else parsed
    except ValueError as exc:  # msgspec's ValidationError, or a rule of nested() refused
        raise invalid_input(exc, shape, whole="body") from exc


def to_result(row: Any) -> ActivityResult:
    return from_row(
        ActivityResult,
        row,
        task_result=TaskResult(
            result=row["result"],
            comment=row["comment"],
            contact_type=row["contact_type"],
            operator_external_id=row["operator_external_id"],
            future_scheduled_at=iso_ms(row["future_scheduled_at"]) if row["future_scheduled_at"] else None,
            payload=msgspec.Raw(row["payload"].encode()) if row["payload"] is not None else None,
        ),
    )


def _check_result_type(found: Any, data: ResultSubmit | IntegrationResultSubmit) -> None:
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


async def submit(
    conn: Connection, tenant_id: uuid.UUID, data: ResultSubmit | IntegrationResultSubmit
) -> ActivityResult:
    found = await queries.results.submission_context(
        conn,
        tenant_id=tenant_id,
        activity_id=data.activity_id,
        provider_activity_id=data.provider_activity_id,
        commerce_external_id=data.commerce_external_id,
        result_code=data.task_result.result,
    )
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
    activity = {"id": activity_id, "status": found["activity_status"]}
    if activity_id is not None:
        stored = found["stored_status"]
        if stored is None and activity["status"] in machine.TERMINAL:
            # Final without a result in this statement's snapshot: it may have waited for the row lock
            # of a submit that has committed one since (and then 409 is the answer, not 400).
            stored = await queries.results.stored_status(conn, tenant_id=tenant_id, activity_id=activity_id)
        if stored is not None and stored != "PENDING" and not data.hard_override:
            raise Conflict(
                "The activity already has a registered result; send hard_override: true to replace it",
                extra={"activityId": str(activity_id)},
            )
        to_status = machine.result_target(activity["status"], data.status)
        if not data.hard_override:
            machine.check(activity["status"], to_status, "RESULT_RECEIVED")
    task = data.task_result
    row = await queries.results.record_result(
        conn,
        tenant_id=tenant_id,
        activity_id=activity_id,
        commerce_id=found["activity_commerce_id"] if activity_id else found["commerce_id"],
        source="RETEN_ACTIVITY" if activity_id else "STANDALONE",
        status=data.status,
        external_status=data.external_status,
        provider_activity_id=data.provider_activity_id,
        occurred_at=data.occurred_at,
        result=task.result,
        comment=task.comment,
        contact_type=task.contact_type,
        operator_external_id=task.operator_external_id,
        future_scheduled_at=task.future_scheduled_at,
        payload=json_param(task.payload) if task.payload is not None else None,
        raw_payload=json_param(data.raw_payload) if data.raw_payload is not None else None,
    )
    if activity_id is not None:
        await move(conn, tenant_id, activity, to_status, "RESULT_RECEIVED", force=data.hard_override)
    return to_result(row)
