from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide

from app.auth.guards import access
from app.db import Tx
from app.routes import repo, service
from app.routes.schemas import (
    Route,
    RouteCreate,
    RouteOperator,
    RouteOperatorAssign,
    RouteOperatorLink,
    RouteUpdate,
)
from app.structs import Page, Pagination, Search, like_pattern, provide_pagination

__all__ = ("RouteController",)

_ADDITION = "Addition: only operator assignment is documented; `MANAGE_ROUTES` covers route CRUD."


class RouteController(Controller):
    path = "/api/routes"
    tags = ["Routes"]

    @get(
        "/",
        operation_id="ListRoutes",
        summary="List routes",
        dependencies={"pagination": Provide(provide_pagination(25), sync_to_thread=False)},
        **access(
            "MANAGE_ROUTES", doc=f"{_ADDITION} `search` matches name or code; `cursor` walks by keyset."
        ),
    )
    async def list_routes(
        self,
        tx: Tx,
        pagination: Pagination,
        search: Search | None = None,
        is_active: bool | None = None,
    ) -> Page[Route]:
        return await repo.list_routes(tx, pagination, search=like_pattern(search), is_active=is_active)

    @post(
        "/",
        operation_id="CreateRoute",
        summary="Create a route",
        **access(
            "MANAGE_ROUTES",
            doc=f"{_ADDITION} `code` and `external_id` are unique per tenant (409). A soft-deleted route "
            "with the same `code` (or, without a code, `external_id`) is reactivated.",
            statuses=(409,),
        ),
    )
    async def create_route(self, tx: Tx, data: RouteCreate) -> Route:
        return await service.create(tx, data)

    @get(
        "/{route_id:uuid}",
        operation_id="GetRoute",
        summary="One route",
        **access("MANAGE_ROUTES", doc=_ADDITION),
    )
    async def get_route(self, tx: Tx, route_id: uuid.UUID) -> Route:
        return await service.get(tx, route_id)

    @patch(
        "/{route_id:uuid}",
        operation_id="UpdateRoute",
        summary="Update a route",
        **access(
            "MANAGE_ROUTES", doc=f"{_ADDITION} All fields optional; `metadata` is merged.", statuses=(409,)
        ),
    )
    async def update_route(self, tx: Tx, route_id: uuid.UUID, data: RouteUpdate) -> Route:
        return await service.update(tx, route_id, data)

    @delete(
        "/{route_id:uuid}",
        operation_id="DeleteRoute",
        summary="Deactivate a route (soft delete)",
        **access("MANAGE_ROUTES", doc=f"{_ADDITION} Sets `isActive=false`; its operator links are kept."),
    )
    async def delete_route(self, tx: Tx, route_id: uuid.UUID) -> None:
        await service.update(tx, route_id, RouteUpdate(is_active=False))

    @get(
        "/{route_id:uuid}/operators",
        operation_id="ListRouteOperators",
        summary="The operators assigned to a route",
        **access("MANAGE_ROUTES", doc="Addition. Links of deactivated operators show `isActive=false`."),
    )
    async def list_route_operators(self, tx: Tx, route_id: uuid.UUID) -> list[RouteOperator]:
        return await service.list_links(tx, route_id)

    @post(
        "/{route_id:uuid}/operators",
        operation_id="AssignRouteOperator",
        summary="Assign an operator to a route",
        **access(
            "MANAGE_ROUTES",
            doc="camelCase body. Idempotent: an existing link is returned (its role changed when `role` is "
            "sent) and an inactive link is reactivated. `role` defaults to MEMBER. Unknown operator -> 404; "
            "inactive operator -> 400.",
        ),
    )
    async def assign_route_operator(
        self, tx: Tx, route_id: uuid.UUID, data: RouteOperatorAssign
    ) -> RouteOperatorLink:
        return await service.assign(tx, route_id, data)

    @delete(
        "/{route_id:uuid}/operators/{operator_id:uuid}",
        operation_id="RemoveRouteOperator",
        summary="Remove an operator from a route",
        **access("MANAGE_ROUTES", doc="Hard delete of the link; 404 when the operator is not linked."),
    )
    async def remove_route_operator(self, tx: Tx, route_id: uuid.UUID, operator_id: uuid.UUID) -> None:
        await service.unassign(tx, route_id, operator_id)
