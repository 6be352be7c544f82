"""Typed access to activity results: the only module of the domain that names ``queries.results``."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec

from app.db import Tx, json_param, queries
from app.results.schemas import ActivityResult, IntegrationResultSubmit, ResultSubmit, TaskResult
from app.structs import from_row, iso_ms

__all__ = ("record_result", "stored_status", "submission_context", "to_result")


def to_result(row: asyncpg.Record) -> ActivityResult:
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


async def submission_context(tx: Tx, data: ResultSubmit | IntegrationResultSubmit) -> asyncpg.Record:
    """What a submission checks, in one round trip, with the matched activity row-locked (a row of nulls
    where nothing matched)."""
    row: asyncpg.Record = await queries.results.submission_context(
        tx.conn,
        tenant_id=tx.tenant_id,
        activity_id=data.activity_id,
        provider_activity_id=data.provider_activity_id,
        commerce_external_id=data.commerce_external_id,
        result_code=data.task_result.result,
    )
    return row


async def stored_status(tx: Tx, activity_id: uuid.UUID) -> str | None:
    """The status of the activity's stored result, if it has one."""
    status: str | None = await queries.results.stored_status(
        tx.conn, tenant_id=tx.tenant_id, activity_id=activity_id
    )
    return status


async def record_result(
    tx: Tx,
    data: ResultSubmit | IntegrationResultSubmit,
    *,
    activity_id: uuid.UUID | None,
    commerce_id: uuid.UUID,
    source: str,
) -> ActivityResult:
    """Store the result: a new row, or the replacement of the activity's stored one."""
    task = data.task_result
    row = await queries.results.record_result(
        tx.conn,
        tenant_id=tx.tenant_id,
        activity_id=activity_id,
        commerce_id=commerce_id,
        source=source,
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
    return to_result(row)
