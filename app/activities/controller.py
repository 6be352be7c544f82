"""``/api/activities``: create (activity or task), list, read, cancel, retry resolution and manual target
assignment. Manual dispatch of a task (``/api/activities/tasks/:id/dispatch``) is dispatch's:
``app.dispatch.controller.TaskDispatchController``."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, patch, post
from litestar.di import Provide

from app.activities import create, lifecycle, repo, resolve, service
from app.activities.hooks import HookAnswers
from app.activities.schemas import (
    Activity,
    ActivityAttribute,
    ActivityCreate,
    CancelBody,
    Channel,
    ManualResolve,
    Status,
    StatusEvent,
    TargetUser,
    TaskCreate,
)
from app.activities.schemas import ActivityType as Type
from app.auth.guards import access
from app.db import Transactions, Tx
from app.state import Services
from app.structs import Page, Pagination, Search, like_pattern, provide_pagination, require_offset

__all__ = ("ActivityController",)

_CREATE = (
    "Target users and attributes are resolved as the tenant's configuration says (CONTRACT.md §5); when "
    "an ON_CREATION target or an UPFRONT attribute fails, the activity is created `UNRESOLVED` with a "
    "`RESOLUTION_FAILED` event. `idempotency_key` is unique per tenant: any repeat (same or different "
    "body, even in flight) -> 409 whose body carries `activityId` of the existing activity. 201 answers "
    "the activity as `GET /api/activities/:id` does."
)


async def _create(
    transactions: Transactions, services: Services, data: ActivityCreate | TaskCreate
) -> Activity:
    """One transaction; two when CLIENT_HOOKs are asked, which happens between them, holding nothing."""
    activity_id = uuid.uuid4()

    async def run(answers: HookAnswers | None) -> Activity:
        async with transactions() as tx:
            return await create.create(tx, data, activity_id=activity_id, answers=answers)

    return await services.hook_caller().around(run)


class ActivityController(Controller):
    path = "/api/activities"
    tags = ["Activities"]

    @post(
        "/",
        operation_id="CreateActivity",
        summary="Create an activity (TASK or MESSAGE)",
        **access(
            "CREATE_ACTIVITY",
            doc=f"{_CREATE} A TASK here may omit its route and operator; when it names them, the rules "
            "of `POST /api/activities/tasks` apply.",
            statuses=(404, 409),
        ),
    )
    async def create_activity(
        self, transactions: Transactions, services: Services, data: ActivityCreate
    ) -> Activity:
        return await _create(transactions, services, data)

    @post(
        "/tasks",
        operation_id="CreateTaskActivity",
        summary="Create a task with its route and operator",
        **access(
            "CREATE_ACTIVITY",
            doc=f"{_CREATE} `assigned_route_id` and `assigned_operator_id` must exist in the tenant, be "
            "active, and the operator must be assigned to the route (else 400).",
            statuses=(404, 409),
        ),
    )
    async def create_task(self, transactions: Transactions, services: Services, data: TaskCreate) -> Activity:
        return await _create(transactions, services, data)

    @get(
        "/",
        operation_id="ListActivities",
        summary="List activities",
        dependencies={"pagination": Provide(provide_pagination(25), sync_to_thread=False)},
        **access(
            "VIEW_ACTIVITIES",
            doc="Ordered by `scheduledAt`, then `id`. `scheduled_from`/`scheduled_to` are inclusive. "
            "`search` matches the reason, the idempotency key, or the commerce's name or external id "
            "(substring, any case). `cursor` (addition) walks by keyset on (`scheduledAt`, `id`).",
        ),
    )
    async def list_activities(
        self,
        tx: Tx,
        pagination: Pagination,
        status: Status | None = None,
        type: Type | None = None,
        channel: Channel | None = None,
        commerce_id: uuid.UUID | None = None,
        scheduled_from: datetime | None = None,
        scheduled_to: datetime | None = None,
        search: Search | None = None,
    ) -> Page[Activity]:
        require_offset(scheduled_from=scheduled_from, scheduled_to=scheduled_to)
        return await repo.list_activities(
            tx,
            pagination,
            status=status,
            type=type,
            channel=channel,
            commerce_id=commerce_id,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
            search=like_pattern(search),
        )

    @get(
        "/{activity_id:uuid}", operation_id="GetActivity", summary="One activity", **access("VIEW_ACTIVITIES")
    )
    async def get_activity(self, tx: Tx, activity_id: uuid.UUID) -> Activity:
        return await repo.get_activity(tx, activity_id)

    @patch(
        "/{activity_id:uuid}/cancel",
        operation_id="CancelActivity",
        summary="Cancel an activity",
        status_code=204,
        **access(
            "CANCEL_ACTIVITY",
            doc="From `READY`, `UNRESOLVED` or `DISPATCHED` to `CANCELED` (event `CANCELED`); from a final "
            'status -> 400. Optional body `{"reason"}`, shown as `cancelReason` (addition).',
        ),
    )
    async def cancel_activity(self, tx: Tx, activity_id: uuid.UUID, data: CancelBody | None = None) -> None:
        await lifecycle.cancel(tx, activity_id, data.reason if data else None)

    @patch(
        "/{activity_id:uuid}/retry-resolution",
        operation_id="RetryActivityResolution",
        summary="Retry target and attribute resolution",
        **access(
            "CREATE_ACTIVITY",
            doc="`UNRESOLVED` only (else 400). Resolves the FAILED target users and attributes again: all "
            "resolved -> `READY` (event `RESOLUTION_RETRY_SUCCESS`); otherwise it stays `UNRESOLVED` (event "
            "`RESOLUTION_RETRY_FAILED`). 200 with the activity either way.",
        ),
    )
    async def retry_resolution(
        self, transactions: Transactions, services: Services, activity_id: uuid.UUID
    ) -> Activity:
        async def run(answers: HookAnswers | None) -> Activity:
            async with transactions() as tx:
                return await resolve.retry_resolution(tx, activity_id, answers)

        return await services.hook_caller().around(run)

    @get(
        "/{activity_id:uuid}/status-events",
        operation_id="ListActivityStatusEvents",
        summary="The activity's status events, oldest first",
        **access("VIEW_ACTIVITIES"),
    )
    async def status_events(self, tx: Tx, activity_id: uuid.UUID) -> list[StatusEvent]:
        return await service.status_events(tx, activity_id)

    @get(
        "/{activity_id:uuid}/target-users",
        operation_id="ListActivityTargetUsers",
        summary="The activity's target users",
        **access("VIEW_ACTIVITIES"),
    )
    async def target_users(self, tx: Tx, activity_id: uuid.UUID) -> list[TargetUser]:
        return await service.target_users(tx, activity_id)

    @patch(
        "/{activity_id:uuid}/target-users/{target_user_id:uuid}/resolve",
        operation_id="ResolveActivityTargetUser",
        summary="Assign a commerce user to a target user by hand",
        **access(
            "CREATE_ACTIVITY",
            doc='Body `{"commerce_user_id"}`: an active person of the activity\'s commerce (another '
            "commerce's or tenant's -> 404). Only a `PENDING` or `FAILED` target user that is not locked, "
            "of a `READY` or `UNRESOLVED` activity (else 400). It becomes `LOCKED` with lockReason "
            "`MANUAL_ASSIGNMENT`; the activity's status does not change (an `UNRESOLVED` one then calls "
            "retry-resolution).",
        ),
    )
    async def resolve_target_user(
        self, tx: Tx, activity_id: uuid.UUID, target_user_id: uuid.UUID, data: ManualResolve
    ) -> TargetUser:
        return await resolve.resolve_manually(tx, activity_id, target_user_id, data)

    @get(
        "/{activity_id:uuid}/attributes",
        operation_id="ListActivityAttributes",
        summary="The activity's attributes and their resolution",
        **access("VIEW_ACTIVITIES", doc="Each item also carries its `key` (addition)."),
    )
    async def attributes(self, tx: Tx, activity_id: uuid.UUID) -> list[ActivityAttribute]:
        return await service.attributes(tx, activity_id)
