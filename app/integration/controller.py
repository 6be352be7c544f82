"""``/api/integration``: the routes integration systems call with an API key (a Bearer token -> 401)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from app.activities.schemas import Channel
from app.auth.guards import access
from app.db import Tx
from app.integration import service
from app.integration.schemas import IntegrationTask, ResultTypeConfig, StatusFilter
from app.results import service as results
from app.results.controller import RESULT_RULES
from app.results.schemas import ActivityResult, IntegrationResultSubmit, ResultStatus
from app.state import Services
from app.structs import Page, Pagination, provide_pagination, require_offset

__all__ = ("IntegrationController",)

ExternalId = Annotated[str | None, Parameter(min_length=1, max_length=255)]

_PULL = (
    "Tasks of the key's tenant, ordered by `scheduledAt`, then `id`.\n\n"
    "- `status`: the integration vocabulary `PENDING` (= READY or UNRESOLVED), `IN_PROGRESS` (= DISPATCHED), "
    "`COMPLETED`, `CANCELLED`, `FAILED`; a core status (`READY`, `UNRESOLVED`, `DISPATCHED`, `CANCELED`) "
    "selects just that one.\n"
    "- `result_status`: the status of the task's result; `PENDING` also matches tasks with no result yet.\n"
    "- `scheduled_from`/`scheduled_to`: inclusive, ISO 8601 with an offset.\n"
    "- Pagination: `page` + `per_page` (default 20, max 100) with `meta {page, limit, total, totalPages}`; "
    "or "
    "`cursor` (addition): send it empty to start, then `meta.nextCursor` until it is null. A cursor page "
    "costs the same at any depth and counts nothing; deep `page` numbers get slower with depth.\n"
    "- **Incremental mode (addition)**: `updated_since` (ISO 8601 with an offset) returns only the tasks "
    "created or changed at or after that time (status, dispatch, result), ordered by `updatedAt`, then "
    "`id`, always by cursor (`page` is ignored, no count). Walk `meta.nextCursor` to the end, remember the "
    "greatest `updatedAt` you received, and pass it as `updated_since` on the next pull; a task seen twice "
    "is the same task, to upsert by `id`. Changes of the last "
    "`PULL_CHANGES_SETTLE_S` seconds (default 2) are held back until a later pull, so a change whose "
    "transaction was still committing is never skipped."
)


class IntegrationController(Controller):
    path = "/api/integration"
    tags = ["Integration"]

    @get(
        "/activities/tasks",
        operation_id="ListIntegrationTasks",
        summary="Pull tasks",
        dependencies={"pagination": Provide(provide_pagination(20), sync_to_thread=False)},
        **access("VIEW_ACTIVITIES", auth="api_key", doc=_PULL, generic_plans=True, log_requests=False),
    )
    async def list_tasks(
        self,
        tx: Tx,
        services: Services,
        pagination: Pagination,
        status: StatusFilter | None = None,
        result_status: ResultStatus | None = None,
        channel: Channel | None = None,
        external_commerce_id: ExternalId = None,
        external_operator_id: ExternalId = None,
        scheduled_from: datetime | None = None,
        scheduled_to: datetime | None = None,
        updated_since: datetime | None = None,
    ) -> Page[IntegrationTask]:
        require_offset(scheduled_from=scheduled_from, scheduled_to=scheduled_to, updated_since=updated_since)
        page: Page[Any] = await service.pull(
            tx,
            pagination,
            status=status,
            updated_since=updated_since,
            settle_s=services.settings.pull_changes_settle_s,
            result_status=result_status,
            channel=channel,
            commerce_external_id=external_commerce_id,
            operator_external_id=external_operator_id,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
        )
        return page  # items are JSON PostgreSQL built (msgspec.Raw), in the shape of IntegrationTask

    @post(
        "/activity-results/tasks",
        operation_id="SubmitIntegrationTaskResult",
        summary="Submit the result of a task",
        **access(
            "SUBMIT_ACTIVITY_RESULT",
            auth="api_key",
            doc="`status`: `EFFECTIVE`, `NOT_EFFECTIVE`, `PENDING`. "
            "Body: the nested snake_case revision (`activity_id` and/or `provider_activity_id`, "
            "`commerce_external_id`, `occurred_at`, `status`, `task_result{result, comment, contact_type, "
            "operator_external_id, future_scheduled_at, payload}`, `external_status`, `hard_override`, "
            "`raw_payload`). " + RESULT_RULES,
            statuses=(404, 409),
        ),
    )
    async def submit_result(self, tx: Tx, data: IntegrationResultSubmit) -> ActivityResult:
        return await results.submit(tx, data)

    @get(
        "/task-result-type-configs",
        operation_id="ListIntegrationResultTypes",
        summary="Result types to submit",
        **access(
            "VIEW_ACTIVITIES",
            auth="api_key",
            doc="The tenant's active task result types, a bare array by `code`: send `code` as "
            "`task_result.result`; when `requiresFutureScheduledAt`, `task_result.future_scheduled_at` must "
            "be given and in the future.",
        ),
    )
    async def list_result_types(self, tx: Tx) -> list[ResultTypeConfig]:
        return await service.result_type_configs(tx)
