"""Integration pull (CONTRACT.md §7): the item as documented (built in SQL, see app.integration_tasks in
migrations/0005; this Struct is its documented shape and the test that decodes every item into it), the
status vocabularies and the result-type config."""

from __future__ import annotations

import uuid
from typing import Literal

from app.activities.schemas import Channel, Status
from app.results.schemas import ResultStatus
from app.structs import Output

__all__ = ("PULL_GROUP", "IntegrationTask", "PullStatus", "ResultTypeConfig")

# The integration vocabulary, and every core status under the integration word it is listed as.
PullStatus = Literal["PENDING", "IN_PROGRESS", "COMPLETED", "CANCELLED", "FAILED"]
PULL_GROUP: dict[str, PullStatus] = {
    "READY": "PENDING",
    "UNRESOLVED": "PENDING",
    "DISPATCHED": "IN_PROGRESS",
    "COMPLETED": "COMPLETED",
    "CANCELED": "CANCELLED",
    "FAILED": "FAILED",
}
StatusFilter = PullStatus | Status
Lifecycle = Literal["SCHEDULED", "UNRESOLVED", "DISPATCHED", "COMPLETED", "CANCELED", "FAILED"]
LifecycleLabel = Literal["Programada", "Sin resolver", "Despachada", "Completada", "Cancelada", "Fallida"]


class IntegrationTask(Output):
    """One task as an integration sees it. ``status`` is in the integration vocabulary; ``updatedAt`` is
    an addition (the key of the incremental mode)."""

    id: uuid.UUID
    activity_origin: Literal["ACTIVITY"]
    type: Literal["TASK"]
    status: PullStatus
    channel: Channel
    scheduled_at: str
    occurred_at: str | None
    created_at: str
    updated_at: str
    lifecycle_status: Lifecycle
    lifecycle_status_label: Literal[
        "Programada", "Sin resolver", "Despachada", "Completada", "Cancelada", "Fallida"
    ]
    lifecycle_status_detail: str | None
    can_force_retry_dispatch: bool
    commerce_external_id: str
    commerce_name: str
    operator_external_id: str | None
    operator_name: str | None
    route_id: uuid.UUID | None
    route_name: str | None
    provider_activity_id: str | None
    reason: str
    result_status: ResultStatus
    result: str | None


class ResultTypeConfig(Output):
    code: str
    label: str
    requires_future_scheduled_at: bool
