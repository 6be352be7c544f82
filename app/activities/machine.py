"""The status machine of activities: one table, used by every path that changes an activity's status
(create, cancel, results, retry, dispatch). ARCHITECTURE.md rule 7.

Every status change is written together with its status event by one SQL statement
(``queries.activities.move``), so a transition and its event can never be separated.
"""

from __future__ import annotations

from typing import Final

from app.errors import BadRequest

__all__ = (
    "EVENTS",
    "STATUSES",
    "TERMINAL",
    "TRANSITIONS",
    "check",
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
