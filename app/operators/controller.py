from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide

from app.auth.guards import access
from app.db import Tx
from app.operators import repo, service
from app.operators.schemas import Operator, OperatorCreate, OperatorSync, OperatorType, OperatorUpdate
from app.structs import Page, Pagination, Search, SyncResult, like_pattern, provide_pagination

__all__ = ("OperatorController",)


class OperatorController(Controller):
    path = "/api/operators"
    tags = ["Operators"]

    @get(
        "/",
        operation_id="ListOperators",
        summary="List operators",
        dependencies={"pagination": Provide(provide_pagination(25), sync_to_thread=False)},
        **access(
            "MANAGE_OPERATORS",
            doc="Ordered by creation. `search` matches name or email (substring, any case). `cursor` "
            "(addition) walks with a keyset instead of `page`.",
        ),
    )
    async def list_operators(
        self,
        tx: Tx,
        pagination: Pagination,
        search: Search | None = None,
        type: OperatorType | None = None,
        is_active: bool | None = None,
    ) -> Page[Operator]:
        return await repo.list_operators(
            tx, pagination, search=like_pattern(search), type=type, is_active=is_active
        )

    @post(
        "/",
        operation_id="CreateOperator",
        summary="Create an operator",
        **access(
            "MANAGE_OPERATORS",
            doc="`email` unique per tenant and (`type`, `external_id`) unique per tenant (409). A "
            "soft-deleted operator with the same (`type`, `external_id`) is reactivated. `name` is split "
            "into "
            "`firstName`/`lastName` on the first space; responses carry all three.",
            statuses=(409,),
        ),
    )
    async def create_operator(self, tx: Tx, data: OperatorCreate) -> Operator:
        return await service.create(tx, data)

    @post(
        "/sync",
        operation_id="SyncOperators",
        summary="Bulk upsert operators",
        **access(
            "SYNC_OPERATORS",
            doc="At most 1,000 items, matched by (`type`, `external_id`); one transaction, and one invalid "
            "item -> 400 naming its index and field with nothing written. Name, email and phone are "
            "replaced, `metadata` merged, a soft-deleted operator reactivated. An email held by another "
            "operator -> 409 naming the item. `updated` counts operators that changed.",
            statuses=(409,),
        ),
    )
    async def sync_operators(self, tx: Tx, data: OperatorSync) -> SyncResult:
        return await service.run_sync(tx, data)

    @get(
        "/{operator_id:uuid}",
        operation_id="GetOperator",
        summary="One operator",
        **access("MANAGE_OPERATORS"),
    )
    async def get_operator(self, tx: Tx, operator_id: uuid.UUID) -> Operator:
        return await service.get(tx, operator_id)

    @patch(
        "/{operator_id:uuid}",
        operation_id="UpdateOperator",
        summary="Update an operator",
        **access(
            "MANAGE_OPERATORS",
            doc="All fields optional; `type` and `external_id` cannot change. `metadata` is merged. "
            "Deactivating an operator deactivates its route links.",
            statuses=(409,),
        ),
    )
    async def update_operator(self, tx: Tx, operator_id: uuid.UUID, data: OperatorUpdate) -> Operator:
        return await service.update(tx, operator_id, data)

    @delete(
        "/{operator_id:uuid}",
        operation_id="DeleteOperator",
        summary="Deactivate an operator (soft delete)",
        **access(
            "MANAGE_OPERATORS",
            doc="Addition. Sets `isActive=false` and deactivates its route links; create or sync "
            "reactivates it.",
        ),
    )
    async def delete_operator(self, tx: Tx, operator_id: uuid.UUID) -> None:
        await service.deactivate(tx, operator_id)
