"""Routes: CRUD with soft delete and reactivation, and the route <-> operator links."""

from __future__ import annotations

import uuid

from app.db import Tx
from app.errors import BadRequest, NotFound
from app.operators import repo as operators
from app.routes import repo
from app.routes.schemas import (
    Route,
    RouteCreate,
    RouteOperator,
    RouteOperatorAssign,
    RouteOperatorLink,
    RouteUpdate,
)
from app.structs import merge_patch, present

__all__ = ("assign", "create", "get", "list_links", "unassign", "update")


async def get(tx: Tx, route_id: uuid.UUID) -> Route:
    return repo.to_route(await repo.get_route(tx, route_id))


async def create(tx: Tx, data: RouteCreate) -> Route:
    """A new route; a soft-deleted route with the same code (or external_id) is reactivated."""
    name, code, external_id = data.name, data.code, data.external_id
    route = None
    if data.is_active and (code or external_id):
        route = await repo.reactivate_route(
            tx, name=name, code=code, external_id=external_id, metadata=data.metadata
        )
    if route is None:
        route = await repo.insert_route(
            tx,
            name=name,
            code=code,
            external_id=external_id,
            is_active=data.is_active,
            metadata=data.metadata,
        )
    return route


async def update(tx: Tx, route_id: uuid.UUID, data: RouteUpdate) -> Route:
    current = await repo.get_route(tx, route_id, lock=True)
    fields = ("name", "code", "external_id", "is_active", "metadata")
    merged = merge_patch(current, present(data), fields)
    return await repo.update_route(tx, route_id, **merged)


async def list_links(tx: Tx, route_id: uuid.UUID) -> list[RouteOperator]:
    await repo.get_route(tx, route_id)
    return await repo.list_route_operators(tx, route_id)


async def assign(tx: Tx, route_id: uuid.UUID, data: RouteOperatorAssign) -> RouteOperatorLink:
    await repo.get_route(tx, route_id)
    operator = await operators.find_operator(tx, data.operator_id)
    if operator is None:
        raise NotFound.of("Operator")
    if not operator["is_active"]:
        raise BadRequest.field("operatorId", "the operator is inactive; reactivate it first")
    return await repo.assign_operator(tx, route_id, data.operator_id, data.role)


async def unassign(tx: Tx, route_id: uuid.UUID, operator_id: uuid.UUID) -> None:
    await repo.get_route(tx, route_id)
    if not await repo.unassign_operator(tx, route_id, operator_id):
        raise NotFound("Operator is not assigned to this route")
