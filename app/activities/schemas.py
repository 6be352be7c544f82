"""Activities: create bodies (snake_case, as the docs pages show), the activity as it is read, and its
status events, target users and attributes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from app.structs import WHITESPACE, Output, SnakeInput, Timestamp, whole

__all__ = (
    "Activity",
    "ActivityAttribute",
    "ActivityCreate",
    "ActivityRef",
    "ActivityType",
    "AttributeInput",
    "AttributeKeyName",
    "AwareDatetime",
    "CancelBody",
    "Channel",
    "CodeLabel",
    "CriterionInput",
    "LockedActivity",
    "ManualResolve",
    "Priority",
    "Status",
    "StatusEvent",
    "TargetUser",
    "TaskCreate",
)

ActivityType = Literal["TASK", "MESSAGE"]
Channel = Literal["SALESMAN", "CALLCENTER", "WHATSAPP", "EMAIL", "SMS", "PUSH"]
Status = Literal["READY", "UNRESOLVED", "DISPATCHED", "COMPLETED", "CANCELED", "FAILED"]
CriterionType = Literal["ROLE_MATCH", "LAST_CONTACTED_SAME_CHANNEL", "LAST_CONTACTED_ALL_CHANNELS"]
CommerceRole = Literal["OWNER", "ORDERS", "FINANCE", "ATTENTION", "ADMIN", "COMMERCE_REP", "OTHER"]

# Input times carry an offset (CONTRACT.md §1).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
IdempotencyKey = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=whole(r"[\x20-\x7e]+"),
        description="1-255 printable ASCII characters",
    ),
]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=rf"[^{WHITESPACE}]")]  # not blank
AttributeKeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Score = Annotated[int, msgspec.Meta(ge=-2_147_483_648, le=2_147_483_647)]
Priority = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class CriterionConfig(msgspec.Struct, forbid_unknown_fields=True):
    """ROLE_MATCH names a commerce-user role; the LAST_CONTACTED criteria take no settings."""

    role: CommerceRole | None = None


class CriterionInput(SnakeInput, kw_only=True):
    """A target-resolution criterion (activity ``target_criteria`` and config ``criteria``)."""

    json_schema_rules: ClassVar[dict[str, Any]] = {
        "if": {"properties": {"type": {"const": "ROLE_MATCH"}}, "required": ["type"]},
        "then": {
            "properties": {"config": {"properties": {"role": {"type": "string"}}, "required": ["role"]}},
            "required": ["config"],
        },
    }

    type: CriterionType
    config: CriterionConfig = msgspec.field(default_factory=CriterionConfig)
    priority: Priority = 0

    def __post_init__(self) -> None:
        if self.type == "ROLE_MATCH" and self.config.role is None:
            raise ValueError("ROLE_MATCH needs config.role")

    def as_dict(self) -> dict[str, Any]:
        config = {"role": self.config.role} if self.config.role else {}
        return {"type": self.type, "config": config, "priority": self.priority}


class AttributeInput(SnakeInput, kw_only=True):
    """A caller-provided attribute: ``value`` for a CALLER_PROVIDED key, ``fallback`` for any key."""

    key: AttributeKeyName
    value: Any | msgspec.UnsetType = msgspec.UNSET
    fallback: Any | msgspec.UnsetType = msgspec.UNSET


class _ActivityFields(SnakeInput, kw_only=True):
    reason: Code
    channel: Channel
    commerce_id: uuid.UUID
    idempotency_key: IdempotencyKey
    scheduled_at: AwareDatetime
    suggested_execution_time: AwareDatetime | None = None
    user_status: Code | None = None
    score: Score | None = None
    assignment_reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    target_criteria: Annotated[list[CriterionInput], msgspec.Meta(max_length=20)] | None = None
    attribute_keys: Annotated[list[AttributeKeyName], msgspec.Meta(max_length=50)] = []
    attributes: Annotated[list[AttributeInput], msgspec.Meta(max_length=50)] = []


def _names_the_other(one: str, other: str) -> dict[str, Any]:
    return {
        "if": {"properties": {one: {"type": "string"}}, "required": [one]},
        "then": {"properties": {other: {"type": "string"}, "type": {"const": "TASK"}}, "required": [other]},
    }


class ActivityCreate(_ActivityFields, kw_only=True):
    """``POST /api/activities``: a TASK or a MESSAGE. A TASK may name its route and operator here."""

    # service._assignment: both or neither, and only on a TASK.
    json_schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [
            _names_the_other("assigned_route_id", "assigned_operator_id"),
            _names_the_other("assigned_operator_id", "assigned_route_id"),
        ]
    }

    type: ActivityType
    assigned_route_id: uuid.UUID | None = None
    assigned_operator_id: uuid.UUID | None = None


class TaskCreate(_ActivityFields, kw_only=True):
    """``POST /api/activities/tasks``: a TASK with its route and operator (both required)."""

    assigned_route_id: uuid.UUID
    assigned_operator_id: uuid.UUID

    @property
    def type(self) -> str:
        return "TASK"


class CancelBody(SnakeInput, kw_only=True):
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class ManualResolve(SnakeInput, kw_only=True):
    commerce_user_id: uuid.UUID


class CodeLabel(Output):
    """``reason`` and ``userStatus`` as the docs render them (label = code: no catalogue entry)."""

    code: str
    label: str


class CommerceRef(Output):
    name: str
    external_id: str


class CommerceAssignment(Output):
    commerce_id: uuid.UUID
    commerce: CommerceRef


class NameRef(Output):
    name: str


class TaskDetails(Output):
    route_id: uuid.UUID | None
    operator_id: uuid.UUID | None
    route: NameRef | None
    operator: NameRef | None


class Activity(Output):
    id: uuid.UUID
    type: ActivityType
    channel: Channel
    status: Status
    reason: CodeLabel
    user_status: CodeLabel | None
    score: int | None
    idempotency_key: str
    scheduled_at: Timestamp
    suggested_execution_time: Timestamp | None
    assignment_reason: str | None
    provider_activity_id: str | None
    dispatch_attempt_count: int
    last_error: str | None
    cancel_reason: str | None
    task_details: TaskDetails | None
    commerce_assignment: CommerceAssignment
    created_at: Timestamp
    updated_at: Timestamp


class StatusEvent(Output):
    id: uuid.UUID
    event_type: str
    from_status: Status | None
    to_status: Status
    error_code: str | None
    error_message: str | None
    occurred_at: Timestamp


class PersonName(Output):
    first_name: str
    last_name: str


class TargetUser(Output):
    id: uuid.UUID
    activity_id: uuid.UUID
    commerce_user_id: uuid.UUID | None
    resolution_status: str
    resolution_strategy: str
    lock_reason: str | None
    error_message: str | None
    resolved_at: Timestamp | None
    locked_at: Timestamp | None
    commerce_user: PersonName | None
    created_at: Timestamp
    updated_at: Timestamp


class ActivityAttribute(Output):
    id: uuid.UUID
    activity_id: uuid.UUID
    attribute_key_id: uuid.UUID
    key: str
    value: msgspec.Raw | None
    resolution_status: str
    resolver_type: str | None
    resolved_at: Timestamp | None
    error_message: str | None
    created_at: Timestamp
    updated_at: Timestamp


# ---------------------------------------------------------------------------------------------------
# Internal: not part of the API
# ---------------------------------------------------------------------------------------------------
class ActivityRef(msgspec.Struct, frozen=True):
    """An activity as a status change sees it (``app.activities.lifecycle.move``): which one, and the
    status it is in, read under its row lock."""

    id: uuid.UUID
    status: str


class LockedActivity(ActivityRef, frozen=True):
    """The row ``lifecycle.lock`` read (``for update``): what resolution needs besides the status."""

    type: str
    channel: str
    commerce_id: uuid.UUID
    target_criteria: str | None  # the stored JSON of the create's override, as text
