"""``POST /api/activity-results/tasks``: a task's result, in either body revision."""

from __future__ import annotations

from typing import Any

from litestar import Controller, post

from app.auth.guards import access
from app.db import Tx
from app.results import service
from app.results.schemas import ActivityResult

__all__ = ("ResultController",)

RESULT_RULES = (
    "`activity_id` wins over `provider_activity_id` (at least one is required). An unknown `activity_id` "
    "-> 404; only a `provider_activity_id` that matches nothing -> a `STANDALONE` result linked to the "
    "commerce `commerce_external_id` (unknown -> 404). A matched activity must be a TASK of the commerce "
    "named. `task_result.result` must be an active task result type (400); when the type requires it, "
    "`future_scheduled_at` must be given and in the future. `status`: this page's vocabulary only "
    "(another value -> 400 naming the allowed ones); `PENDING` leaves the activity as it is; `COMPLETED`,"
    " `TRANSFERRED`, `EFFECTIVE`, `NOT_EFFECTIVE` -> `COMPLETED`; `NOT_EXECUTED` -> `FAILED`; `CANCELED` "
    "-> `CANCELED`. A non-PENDING result is final: another result for the activity -> 409 unless "
    "`hard_override: true`, which replaces it and applies its status without the state machine. The "
    "result, the activity's status and its `RESULT_RECEIVED` event are one transaction."
)


class ResultController(Controller):
    path = "/api/activity-results"
    tags = ["Activity results"]

    @post(
        "/tasks",
        operation_id="CreateTaskActivityResult",
        summary="Record the result of a task",
        **access(
            "CREATE_ACTIVITY",
            doc="`status`: `PENDING`, `COMPLETED`, `NOT_EXECUTED`, `CANCELED`, `TRANSFERRED`. "
            "Body: the nested snake_case revision (`commerce_external_id`, `occurred_at`, `status`, "
            "`task_result{result, comment, contact_type, operator_external_id, future_scheduled_at, "
            "payload}`, `external_status`, `hard_override`, `raw_payload`) or the flat camelCase one "
            "(`commerceExternalId`, `resultTypeCode`, `contactDirection`, `occurredAt`, ...). "
            + RESULT_RULES,
            statuses=(404, 409),
        ),
    )
    async def create_result(self, tx: Tx, data: dict[str, Any]) -> ActivityResult:
        return await service.submit(tx, service.parse_either_revision(data))
