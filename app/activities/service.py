"""An activity's status events, target users and attributes (one and a page of activities: the repo).

The other jobs live beside it: creation (``app.activities.create``), status changes
(``app.activities.lifecycle``), resolution again, at dispatch and by hand (``app.activities.resolve``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.activities import repo
from app.activities.schemas import (
    ActivityAttribute,
    StatusEvent,
    TargetUser,
)
from app.db import Tx
from app.errors import NotFound

__all__ = ("attributes", "status_events", "target_users")

T = TypeVar("T")


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
