"""Routes: CRUD with soft delete and reactivation, and the route <-> operator links."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection, fetch_one, json_param, paginate, queries
from app.errors import BadRequest, NotFound
from app.routes.schemas import (
    Route,
    RouteCreate,
    RouteOperator,
    RouteOperatorAssign,
    RouteOperatorLink,
    RouteUpdate,
)
from app.structs import Page, Pagination, decode_metadata, from_row, join_name, merge_patch, present

__all__ = ("assign", "create", "get", "list_links", "list_routes", "unassign", "update")


def to_route(row: Any) -> Route:
    return from_row(Route, row, metadata=decode_metadata(row["metadata"]))


async def list_routes(
    conn: Connection, tenant_id: uuid.UUID, page: Pagination, **filters: Any
) -> Page[Route]:
    return await paginate(
        conn,
        page,
        queries.routes.list_routes,
        queries.routes.count_routes,
        to_route,
        tenant_id=tenant_id,
        **filters,
    )


async def _row(conn: Connection, tenant_id: uuid.UUID, route_id: uuid.UUID, *, lock: bool = False) -> Any:
    query = queries.routes.lock_route if lock else queries.routes.get_route
    return await fetch_one(query, "Route", conn, tenant_id=tenant_id, id=route_id)


async def get(conn: Connection, tenant_id: uuid.UUID, route_id: uuid.UUID) -> Route:
    return to_route(await _row(conn, tenant_id, route_id))


async def create(conn: Connection, tenant_id: uuid.UUID, data: RouteCreate) -> Route:
    """A new route; a soft-deleted route with the same code (or external_id) is reactivated."""
    values = {"name": data.name, "code": data.code, "external_id": data.external_id}
    metadata = json_param(data.metadata)
    row = None
    if data.is_active and (data.code or data.external_id):
        row = await queries.routes.reactivate_route(conn, tenant_id=tenant_id, metadata=metadata, **values)
    if row is None:
        row = await queries.routes.insert_route(
            conn, tenant_id=tenant_id, metadata=metadata, is_active=data.is_active, **values
        )
    return to_route(row)


async def update(conn: Connection, tenant_id: uuid.UUID, route_id: uuid.UUID, data: RouteUpdate) -> Route:
    current = await _row(conn, tenant_id, route_id, lock=True)
    fields = ("name", "code", "external_id", "is_active", "metadata")
    merged = merge_patch(current, present(data), fields)
    row = await queries.routes.update_route(conn, tenant_id=tenant_id, id=route_id, **merged)
    return to_route(row)


async def list_links(conn: Connection, tenant_id: uuid.UUID, route_id: uuid.UUID) -> list[RouteOperator]:
    await _row(conn, tenant_id, route_id)
    rows = queries.routes.list_route_operators(conn, tenant_id=tenant_id, route_id=route_id)
    return [from_row(RouteOperator, r, name=join_name(r["first_name"], r["last_name"])) async for r in rows]


async def assign(
    conn: Connection, tenant_id: uuid.UUID, route_id: uuid.UUID, data: RouteOperatorAssign
) -> RouteOperatorLink:
    await _row(conn, tenant_id, route_id)
    operator = await queries.operators.get_operator(conn, tenant_id=tenant_id, id=data.operator_id)
    if operator is None:
        raise NotFound.of("Operator")
    if not operator["is_active"]:
        raise BadRequest.field("operatorId", "the operator is inactive; reactivate it first")
    row = await queries.routes.assign_operator(
        conn, tenant_id=tenant_id, route_id=route_id, operator_id=data.operator_id, role=data.role
    )
    return from_row(RouteOperatorLink, row)


async def unassign(
    conn: Connection, tenant_id: uuid.UUID, route_id: uuid.UUID, operator_id: uuid.UUID
) -> None:
    await _row(conn, tenant_id, route_id)
    if (
        await queries.routes.unassign_operator(
            conn, tenant_id=tenant_id, route_id=route_id, operator_id=operator_id
        )
        is None
    ):
        raise NotFound("Operator is not assigned to this route")
