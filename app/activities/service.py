"""Reading activities: one, a page of them, and an activity's status events, target users and attributes.

The other jobs live beside it: creation (``app.activities.create``), status changes
(``app.activities.lifecycle``), resolution again, at dispatch and by hand (``app.activities.resolve``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from app.activities import repo
from app.activities.schemas import (
    Activity,
    ActivityAttribute,
    ActivityType,
    Channel,
    Status,
    StatusEvent,
    TargetUser,
)
from app.db import Tx
from app.errors import NotFound
from app.structs import Page, Pagination

__all__ = ("attributes", "get", "list_activities", "status_events", "target_users")

T = TypeVar("T")


async def get(tx: Tx, activity_id: uuid.UUID) -> Activity:
    return await repo.get_activity(tx, activity_id)


async def list_activities(
    tx: Tx,
    page: Pagination,
    *,
    status: Status | None = None,
    type: ActivityType | None = None,
    channel: Channel | None = None,
    commerce_id: uuid.UUID | None = None,
    scheduled_from: datetime | None = None,
    scheduled_to: datetime | None = None,
    search: str | None = None,
) -> Page[Activity]:
    return await repo.list_activities(
        tx,
        page,
        status=status,
        type=type,
        channel=channel,
        commerce_id=commerce_id,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
        search=search,
    )


async def _of_activity(
    read: Callable[[Tx, uuid.UUID], Awaitable[list[T]]], tx: Tx, activity_id: uuid.UUID
) -> list[T]:
    """An activity's sub-resource; 404 when there is none because there is no such activity (the
    existence query runs only then: events and targets are never empty)."""
    found = await read(tx, activity_id)
    if not found and not await repo.activity_exists(tx, activity_id):
        raise NotFound.of("Activity")
    return found


async def status_events(tx: Tx, activity_id: uuid.UUID) -> list[StatusEvent]:
    return await _of_activity(repo.status_events, tx, activity_id)


async def target_users(tx: Tx, activity_id: uuid.UUID) -> list[TargetUser]:
    return await _of_activity(repo.target_users, tx, activity_id)


async def attributes(tx: Tx, activity_id: uuid.UUID) -> list[ActivityAttribute]:
    return await _of_activity(repo.attributes, tx, activity_id)
