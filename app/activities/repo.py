"""Typed access to activities, their target users, attributes and status events: the only module of the
domain that names ``queries.activities``. Every statement runs in one tenant's transaction (``Tx``) and
names that tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from app.activities.schemas import (
    Activity,
    ActivityAttribute,
    ActivityCreate,
    ActivityType,
    Channel,
    CodeLabel,
    CommerceAssignment,
    CommerceRef,
    LockedActivity,
    NameRef,
    PersonName,
    Status,
    StatusEvent,
    TargetUser,
    TaskCreate,
    TaskDetails,
)
from app.db import Tx, fetch_one, json_param, paginate, queries
from app.structs import Page, Pagination, from_row, join_name

__all__ = (
    "activity_exists",
    "attribute_rows",
    "attributes",
    "get_activity",
    "id_by_idempotency_key",
    "insert_activity",
    "list_activities",
    "lock_activity",
    "move",
    "notify_ready",
    "person_of_commerce",
    "resolution_context",
    "status_events",
    "target_user_rows",
    "target_users",
    "to_activity",
    "to_attribute",
    "to_target_user",
    "update_attributes",
    "update_targets",
)


# ---------------------------------------------------------------------------------------------------
# Mappers
# ---------------------------------------------------------------------------------------------------
def _label(code: str | None) -> CodeLabel | None:
    return CodeLabel(code=code, label=code) if code is not None else None


def to_activity(row: asyncpg.Record) -> Activity:
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


def to_target_user(row: asyncpg.Record) -> TargetUser:
    person = None
    if row["commerce_user_id"] is not None:
        person = PersonName(first_name=row["first_name"] or "", last_name=row["last_name"] or "")
    return from_row(TargetUser, row, commerce_user=person)


def to_attribute(row: asyncpg.Record) -> ActivityAttribute:
    return from_row(
        ActivityAttribute,
        row,
        value=msgspec.Raw(row["value"].encode()) if row["value"] is not None else None,
        resolver_type=None if row["resolution_status"] == "PENDING" else row["resolver_type"],
    )


# ---------------------------------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------------------------------
async def get_activity(tx: Tx, activity_id: uuid.UUID) -> Activity:
    """The activity, or 404."""
    return to_activity(
        await fetch_one(
            queries.activities.get_activity, "Activity", tx.conn, tenant_id=tx.tenant_id, id=activity_id
        )
    )


async def list_activities(
    tx: Tx,
    page: Pagination,
    *,
    status: Status | None,
    type: ActivityType | None,
    channel: Channel | None,
    commerce_id: uuid.UUID | None,
    scheduled_from: datetime | None,
    scheduled_to: datetime | None,
    search: str | None,
) -> Page[Activity]:
    return await paginate(
        tx.conn,
        page,
        queries.activities.list_activities,
        queries.activities.count_activities,
        to_activity,
        sort="scheduled_at",
        tenant_id=tx.tenant_id,
        status=status,
        type=type,
        channel=channel,
        commerce_id=commerce_id,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
        search=search,
    )


async def activity_exists(tx: Tx, activity_id: uuid.UUID) -> bool:
    return bool(await queries.activities.activity_exists(tx.conn, tenant_id=tx.tenant_id, id=activity_id))


async def lock_activity(tx: Tx, activity_id: uuid.UUID) -> LockedActivity:
    """The activity's state, row-locked until the transaction ends; 404 when there is none."""
    row = await fetch_one(
        queries.activities.lock_activity, "Activity", tx.conn, tenant_id=tx.tenant_id, id=activity_id
    )
    return LockedActivity(
        id=row["id"],
        status=row["status"],
        type=row["type"],
        channel=row["channel"],
        commerce_id=row["commerce_id"],
        target_criteria=row["target_criteria"],
    )


async def id_by_idempotency_key(tx: Tx, idempotency_key: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await queries.activities.id_by_idempotency_key(
        tx.conn, tenant_id=tx.tenant_id, idempotency_key=idempotency_key
    )
    return found


async def resolution_context(
    tx: Tx,
    commerce_id: uuid.UUID,
    channel: str,
    keys: list[str],
    route_id: uuid.UUID | None = None,
    operator_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    """Everything resolution needs, in one round trip (a row whose ``id`` is null when the commerce is
    not the tenant's)."""
    row: asyncpg.Record = await queries.activities.resolution_context(
        tx.conn,
        tenant_id=tx.tenant_id,
        commerce_id=commerce_id,
        channel=channel,
        keys=keys,
        route_id=route_id,
        operator_id=operator_id,
    )
    return row


async def insert_activity(
    tx: Tx,
    data: ActivityCreate | TaskCreate,
    *,
    activity_id: uuid.UUID,
    status: str,
    target_criteria: list[dict[str, Any]] | None,
    last_error: str | None,
    targets: list[dict[str, Any]],
    attributes: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> Activity | None:
    """The new activity with its target users, attributes and events (rows as dicts, sent as JSON), in
    one statement; None when its idempotency key is taken."""
    row = await queries.activities.insert_activity(
        tx.conn,
        tenant_id=tx.tenant_id,
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
        target_criteria=json_param(target_criteria) if target_criteria is not None else None,
        last_error=last_error,
        targets=json_param(targets),
        attributes=json_param(attributes),
        events=json_param(events),
    )
    return to_activity(row) if row is not None else None


async def move(
    tx: Tx,
    *,
    activity_id: uuid.UUID,
    from_status: str,
    to_status: str,
    event_type: str,
    error_code: str | None,
    error_message: str | None,
    cancel_reason: str | None,
    provider_activity_id: str | None,
    attempted: bool,
    retry_at: datetime | None,
) -> uuid.UUID | None:
    """The status change and its event, in one statement: the event's id, or None when the activity was
    not in ``from_status``."""
    event_id: uuid.UUID | None = await queries.activities.move(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=activity_id,
        from_status=from_status,
        to_status=to_status,
        event_type=event_type,
        error_code=error_code,
        error_message=error_message,
        cancel_reason=cancel_reason,
        provider_activity_id=provider_activity_id,
        attempted=attempted,
        retry_at=retry_at,
    )
    return event_id


async def notify_ready(tx: Tx) -> None:
    """Wake the dispatchers at commit: an activity of this tenant became READY."""
    await queries.activities.notify_ready(tx.conn, tenant_id=tx.tenant_id)


# ---------------------------------------------------------------------------------------------------
# Sub-resources: status events, target users, attributes
# ---------------------------------------------------------------------------------------------------
async def status_events(tx: Tx, activity_id: uuid.UUID) -> list[StatusEvent]:
    rows = queries.activities.status_events(tx.conn, tenant_id=tx.tenant_id, activity_id=activity_id)
    return [from_row(StatusEvent, r) async for r in rows]


async def target_user_rows(tx: Tx, activity_id: uuid.UUID) -> list[asyncpg.Record]:
    """The activity's target users as stored (with their resolution columns)."""
    rows = queries.activities.target_users(tx.conn, tenant_id=tx.tenant_id, activity_id=activity_id)
    return [r async for r in rows]


async def target_users(tx: Tx, activity_id: uuid.UUID) -> list[TargetUser]:
    return [to_target_user(r) for r in await target_user_rows(tx, activity_id)]


async def attribute_rows(tx: Tx, activity_id: uuid.UUID) -> list[asyncpg.Record]:
    """The activity's attributes as stored (with their key's policy columns and the caller's fallback)."""
    rows = queries.activities.attributes(tx.conn, tenant_id=tx.tenant_id, activity_id=activity_id)
    return [r async for r in rows]


async def attributes(tx: Tx, activity_id: uuid.UUID) -> list[ActivityAttribute]:
    return [to_attribute(r) for r in await attribute_rows(tx, activity_id)]


async def update_targets(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Write target users' resolution columns (``rows``: id and the columns)."""
    await queries.activities.update_targets(tx.conn, tenant_id=tx.tenant_id, rows=json_param(rows))


async def update_attributes(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Write attributes' resolution columns (``rows``: id and the columns)."""
    await queries.activities.update_attributes(tx.conn, tenant_id=tx.tenant_id, rows=json_param(rows))


async def person_of_commerce(
    tx: Tx, commerce_id: uuid.UUID, commerce_user_id: uuid.UUID
) -> asyncpg.Record | None:
    """The commerce user, if it is a person of that commerce (with ``is_active``)."""
    row: asyncpg.Record | None = await queries.activities.person_of_commerce(
        tx.conn, tenant_id=tx.tenant_id, commerce_id=commerce_id, id=commerce_user_id
    )
    return row
