from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import Provide

from app.activities import service
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
from app.db import Connection, Transactions
from app.dispatch import delivery
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
    transactions: Transactions, services: Services, tenant: uuid.UUID, data: ActivityCreate | TaskCreate
) -> Activity:
    """One transaction; two when CLIENT_HOOKs are asked, which happens between them, holding nothing."""
    activity_id = uuid.uuid4()

    async def run(answers: HookAnswers | None) -> Activity:
        async with transactions() as db:
            return await service.create(db, tenant, data, activity_id=activity_id, answers=answers)

    return await services.hook_caller().around(tenant, run)


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
        self, transactions: Transactions, services: Services, tenant: uuid.UUID, data: ActivityCreate
    ) -> Activity:
        return await _create(transactions, services, tenant, data)

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
    async def create_task(
        self, transactions: Transactions, services: Services, tenant: uuid.UUID, data: TaskCreate
    ) -> Activity:
        return await _create(transactions, services, tenant, data)

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
        db: Connection,
        tenant: uuid.UUID,
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
        return await service.list_activities(
            db,
            tenant,
            pagination,
            status=status,
            type=type,
            channel=channel,
            commerce_id=commerce_id,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
            search=like_pattern(search),
        )

    @post(
        "/tasks/{activity_id:uuid}/dispatch",
        operation_id="DispatchTask",
        summary="Dispatch a task now",
        status_code=204,
        **access(
            "DISPATCH_ACTIVITY",
            doc="Asks that a TASK be delivered now, to the provider of the active dispatch config of its "
            "channel; the answer does not depend on a race with the dispatcher. READY and not in flight: "
            "one attempt now. A delivery already in flight (the dispatcher's): the call waits for that "
            "attempt (at most the provider timeout, 15 s) and answers its outcome. Already DISPATCHED: "
            "204, nothing sent again. Success -> 204 and the task is DISPATCHED (its `providerActivityId` "
            "from the provider's answer). A provider failure -> 502 with `errorCode`; the attempt is "
            "counted (a DISPATCH_FAILED event), and the third failed attempt makes the task FAILED. Not "
            "a TASK, or UNRESOLVED / COMPLETED / CANCELED / FAILED -> 400; no active config for its "
            "channel -> 404.",
            statuses=(409, 502),
        ),
    )
    async def dispatch_task(
        self, request: Request[Any, Any, Any], services: Services, tenant: uuid.UUID, activity_id: uuid.UUID
    ) -> None:
        await delivery.dispatch_now(request.app.state.pool, services, tenant, activity_id)

    @get(
        "/{activity_id:uuid}", operation_id="GetActivity", summary="One activity", **access("VIEW_ACTIVITIES")
    )
    async def get_activity(self, db: Connection, tenant: uuid.UUID, activity_id: uuid.UUID) -> Activity:
        return await service.get(db, tenant, activity_id)

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
    async def cancel_activity(
        self, db: Connection, tenant: uuid.UUID, activity_id: uuid.UUID, data: CancelBody | None = None
    ) -> None:
        await service.cancel(db, tenant, activity_id, data.reason if data else None)

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
        self, transactions: Transactions, services: Services, tenant: uuid.UUID, activity_id: uuid.UUID
    ) -> Activity:
        async def run(answers: HookAnswers | None) -> Activity:
            async with transactions() as db:
                return await service.retry_resolution(db, tenant, activity_id, answers)

        return await services.hook_caller().around(tenant, run)

    @get(
        "/{activity_id:uuid}/status-events",
        operation_id="ListActivityStatusEvents",
        summary="The activity's status events, oldest first",
        **access("VIEW_ACTIVITIES"),
    )
    async def status_events(
        self, db: Connection, tenant: uuid.UUID, activity_id: uuid.UUID
    ) -> list[StatusEvent]:
        return await service.status_events(db, tenant, activity_id)

    @get(
        "/{activity_id:uuid}/target-users",
        operation_id="ListActivityTargetUsers",
        summary="The activity's target users",
        **access("VIEW_ACTIVITIES"),
    )
    async def target_users(
        self, db: Connection, tenant: uuid.UUID, activity_id: uuid.UUID
    ) -> list[TargetUser]:
        return await service.target_users(db, tenant, activity_id)

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
        self,
        db: Connection,
        tenant: uuid.UUID,
        activity_id: uuid.UUID,
        target_user_id: uuid.UUID,
        data: ManualResolve,
    ) -> TargetUser:
        return await service.resolve_manually(db, tenant, activity_id, target_user_id, data)

    @get(
        "/{activity_id:uuid}/attributes",
        operation_id="ListActivityAttributes",
        summary="The activity's attributes and their resolution",
        **access("VIEW_ACTIVITIES", doc="Each item also carries its `key` (addition)."),
    )
    async def attributes(
        self, db: Connection, tenant: uuid.UUID, activity_id: uuid.UUID
    ) -> list[ActivityAttribute]:
        return await service.attributes(db, tenant, activity_id)
