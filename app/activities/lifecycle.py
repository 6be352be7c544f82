"""The lifecycle of activities: the status machine (one table, used by every path that changes an
activity's status: create, cancel, results, retry, dispatch; ARCHITECTURE.md rule 7) and the one way to
apply it: ``lock`` the activity, ``move`` it (or ``cancel`` it, which does both).

Every status change is written together with its status event by one SQL statement
(``app.activities.repo.move``), so a transition and its event can never be separated. ``move`` takes an
``ActivityRef``: the row ``lock`` read, or one a caller read under the same row lock (a result's
submission context, a delivery's dispatch target).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

import msgspec

from app.activities import repo
from app.activities.schemas import ActivityRef, LockedActivity
from app.db import Tx
from app.errors import BadRequest, Conflict

__all__ = (
    "CANCELED",
    "COMPLETED",
    "DISPATCHED",
    "EVENTS",
    "FAILED",
    "READY",
    "RESULT_STATUS",
    "STATUSES",
    "TERMINAL",
    "TRANSITIONS",
    "UNRESOLVED",
    "ActivityRef",
    "DispatchAttempt",
    "LockedActivity",
    "cancel",
    "check",
    "lock",
    "move",
    "result_target",
)

READY, UNRESOLVED, DISPATCHED = "READY", "UNRESOLVED", "DISPATCHED"
COMPLETED, CANCELED, FAILED = "COMPLETED", "CANCELED", "FAILED"

STATUSES: Final = (READY, UNRESOLVED, DISPATCHED, COMPLETED, CANCELED, FAILED)
TERMINAL: Final = frozenset({COMPLETED, CANCELED, FAILED})
EVENTS: Final = (
    "CREATED",
    "RESOLUTION_FAILED",
    "RESOLUTION_RETRY_SUCCESS",
    "RESOLUTION_RETRY_FAILED",
    "DISPATCH_SUCCESS",
    "DISPATCH_FAILED",
    "RESULT_RECEIVED",
    "CANCELED",
)

# (from, to) -> the events that may carry it. A pair that is absent is illegal. ``None`` as ``from`` is
# the creation of the activity. Pairs with from == to record an event without a status change (a failed
# retry, a failed dispatch attempt before the last, a PENDING result).
#
# Results may arrive for activities that were never dispatched: in pull mode an integration reads
# READY and UNRESOLVED tasks (integration status PENDING) and reports on them.
TRANSITIONS: Final[dict[tuple[str | None, str], frozenset[str]]] = {
    (None, READY): frozenset({"CREATED"}),
    (READY, UNRESOLVED): frozenset({"RESOLUTION_FAILED"}),
    (READY, READY): frozenset({"DISPATCH_FAILED", "RESULT_RECEIVED"}),
    (READY, DISPATCHED): frozenset({"DISPATCH_SUCCESS"}),
    (READY, FAILED): frozenset({"DISPATCH_FAILED", "RESULT_RECEIVED"}),
    (READY, COMPLETED): frozenset({"RESULT_RECEIVED"}),
    (READY, CANCELED): frozenset({"CANCELED", "RESULT_RECEIVED"}),
    (UNRESOLVED, READY): frozenset({"RESOLUTION_RETRY_SUCCESS"}),
    (UNRESOLVED, UNRESOLVED): frozenset({"RESOLUTION_RETRY_FAILED", "RESULT_RECEIVED"}),
    (UNRESOLVED, COMPLETED): frozenset({"RESULT_RECEIVED"}),
    (UNRESOLVED, FAILED): frozenset({"RESULT_RECEIVED"}),
    (UNRESOLVED, CANCELED): frozenset({"CANCELED", "RESULT_RECEIVED"}),
    (DISPATCHED, DISPATCHED): frozenset({"RESULT_RECEIVED"}),
    (DISPATCHED, COMPLETED): frozenset({"RESULT_RECEIVED"}),
    (DISPATCHED, FAILED): frozenset({"RESULT_RECEIVED"}),
    (DISPATCHED, CANCELED): frozenset({"CANCELED", "RESULT_RECEIVED"}),
}

# Result status (both vocabularies, CONTRACT.md §6) -> the activity status it leads to (None: no change).
RESULT_STATUS: Final[dict[str, str | None]] = {
    "PENDING": None,
    "COMPLETED": COMPLETED,
    "TRANSFERRED": COMPLETED,
    "EFFECTIVE": COMPLETED,
    "NOT_EFFECTIVE": COMPLETED,
    "NOT_EXECUTED": FAILED,
    "CANCELED": CANCELED,
}


def check(from_status: str | None, to_status: str, event: str) -> None:
    """Raise 400 unless ``event`` may move an activity from ``from_status`` to ``to_status``."""
    if event not in TRANSITIONS.get((from_status, to_status), ()):
        if from_status in TERMINAL:
            raise BadRequest(f"Activity is {from_status}, a final status; it cannot change any more")
        raise BadRequest(f"Activity cannot go from {from_status} to {to_status} ({event})")


def result_target(current: str, result_status: str) -> str:
    """The status a result leaves the activity in (the current one for a PENDING result)."""
    return RESULT_STATUS[result_status] or current


# ---------------------------------------------------------------------------------------------------
# Applying it
# ---------------------------------------------------------------------------------------------------
class DispatchAttempt(msgspec.Struct, frozen=True):
    """What a dispatch attempt adds to its transition: the provider's id (success) or when to try again
    (a failure that is not the last)."""

    provider_activity_id: str | None = None
    retry_at: datetime | None = None


async def lock(tx: Tx, activity_id: uuid.UUID) -> LockedActivity:
    """The activity, locked until the transaction ends (every status change starts here); 404 when the
    tenant has no such activity."""
    return await repo.lock_activity(tx, activity_id)


async def move(
    tx: Tx,
    activity: ActivityRef,
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
    ``activity`` was read under its row lock; ``attempt`` records a dispatch attempt with it."""
    if not force:
        check(activity.status, to_status, event)
    moved = await repo.move(
        tx,
        activity_id=activity.id,
        from_status=activity.status,
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
    if to_status == READY and activity.status != READY:
        await repo.notify_ready(tx)


async def cancel(tx: Tx, activity_id: uuid.UUID, reason: str | None) -> None:
    """CANCELED (event CANCELED) from any status the machine allows; 400 from a final one."""
    activity = await lock(tx, activity_id)
    await move(tx, activity, CANCELED, "CANCELED", cancel_reason=reason)
