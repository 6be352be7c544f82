"""Activity results: the nested snake_case body (both endpoints), the flat camelCase revision
(``POST /api/activity-results/tasks`` only), and the stored result."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.activities.schemas import AwareDatetime
from app.structs import CamelInput, ExternalId, Output, SnakeInput, Text255, Timestamp

__all__ = (
    "ActivityResult",
    "CoreResultStatus",
    "FlatResultSubmit",
    "IntegrationResultStatus",
    "IntegrationResultSubmit",
    "ResultStatus",
    "ResultSubmit",
    "TaskResultInput",
)

# Each result route validates its own page's vocabulary (CONTRACT.md §6, revised); the stored result and
# the pull's filter hold either, and CONTRACT.md §6 maps each to an activity transition.
CoreResultStatus = Literal["PENDING", "COMPLETED", "NOT_EXECUTED", "CANCELED", "TRANSFERRED"]
IntegrationResultStatus = Literal["EFFECTIVE", "NOT_EFFECTIVE", "PENDING"]
ResultStatus = Literal[
    "PENDING", "COMPLETED", "NOT_EXECUTED", "CANCELED", "TRANSFERRED", "EFFECTIVE", "NOT_EFFECTIVE"
]
ContactType = Literal["INBOUND", "OUTBOUND"]
ResultCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Comment = Annotated[str, msgspec.Meta(max_length=4000)]
JsonObject = dict[str, Any]


class TaskResultInput(SnakeInput, kw_only=True):
    result: ResultCode
    comment: Comment | None = None
    contact_type: ContactType | None = None
    operator_external_id: ExternalId | None = None
    future_scheduled_at: AwareDatetime | None = None
    payload: JsonObject | None = None


class _NestedResult(SnakeInput, kw_only=True):
    """The nested snake_case body, without ``status`` (each route declares its own vocabulary)."""

    activity_id: uuid.UUID | None = None
    provider_activity_id: ExternalId | None = None
    commerce_external_id: ExternalId
    occurred_at: AwareDatetime
    external_status: Text255 | None = None
    hard_override: bool = False
    raw_payload: JsonObject | None = None
    task_result: TaskResultInput

    def __post_init__(self) -> None:
        if self.activity_id is None and self.provider_activity_id is None:
            raise ValueError("send activity_id or provider_activity_id")


class ResultSubmit(_NestedResult, kw_only=True):
    """``POST /api/activity-results/tasks`` (the activity-results page's statuses)."""

    status: CoreResultStatus


class IntegrationResultSubmit(_NestedResult, kw_only=True):
    """``POST /api/integration/activity-results/tasks`` (the integration page's statuses)."""

    status: IntegrationResultStatus


class FlatResultSubmit(CamelInput, kw_only=True):
    """The older flat camelCase revision of ``POST /api/activity-results/tasks``."""

    activity_id: uuid.UUID | None = None
    provider_activity_id: ExternalId | None = None
    commerce_external_id: ExternalId
    status: CoreResultStatus
    result_type_code: ResultCode
    comment: Comment | None = None
    contact_direction: ContactType | None = None
    operator_external_id: ExternalId | None = None
    occurred_at: AwareDatetime
    raw_payload: JsonObject | None = None
    hard_override: bool = False

    def nested(self) -> ResultSubmit:
        return ResultSubmit(
            activity_id=self.activity_id,
            provider_activity_id=self.provider_activity_id,
            commerce_external_id=self.commerce_external_id,
            occurred_at=self.occurred_at,
            status=self.status,
            hard_override=self.hard_override,
            raw_payload=self.raw_payload,
            task_result=TaskResultInput(
                result=self.result_type_code,
                comment=self.comment,
                contact_type=self.contact_direction,
                operator_external_id=self.operator_external_id,
            ),
        )


class TaskResult(Output):
    result: str
    comment: str | None
    contact_type: str | None
    operator_external_id: str | None
    future_scheduled_at: Timestamp | None
    payload: msgspec.Raw | None


class ActivityResult(Output):
    id: uuid.UUID
    activity_id: uuid.UUID | None
    commerce_id: uuid.UUID
    source: Literal["RETEN_ACTIVITY", "STANDALONE"]
    status: ResultStatus
    external_status: str | None
    provider_activity_id: str | None
    occurred_at: Timestamp
    task_result: TaskResult
    created_at: Timestamp
    updated_at: Timestamp
