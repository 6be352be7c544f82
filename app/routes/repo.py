"""Typed access to routes and their operator links: the only module of the domain that names
``queries.routes``. Every statement runs in the transaction's tenant and names it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db import Tx, fetch_one, json_param, paginate, queries
from app.routes.schemas import Route, RouteOperator, RouteOperatorLink
from app.structs import Page, Pagination, decode_metadata, from_row, join_name

__all__ = (
    "assign_operator",
    "get_route",
    "insert_route",
    "list_route_operators",
    "list_routes",
    "reactivate_route",
    "to_route",
    "unassign_operator",
    "update_route",
)


def to_route(row: asyncpg.Record) -> Route:
    return from_row(Route, row, metadata=decode_metadata(row["metadata"]))


async def list_routes(tx: Tx, page: Pagination, **filters: Any) -> Page[Route]:
    return await paginate(
        tx.conn,
        page,
        queries.routes.list_routes,
        queries.routes.count_routes,
        to_route,
        tenant_id=tx.tenant_id,
        **filters,
    )


async def get_route(tx: Tx, route_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record:
    """The route (row-locked with ``lock``), or 404."""
    query = queries.routes.lock_route if lock else queries.routes.get_route
    return await fetch_one(query, "Route", tx.conn, tenant_id=tx.tenant_id, id=route_id)


async def reactivate_route(
    tx: Tx, *, name: str, code: str | None, external_id: str | None, metadata: dict[str, Any]
) -> Route | None:
    """The soft-deleted route this code (or, without one, external_id) names, back with these values;
    None when there is none."""
    row = await queries.routes.reactivate_route(
        tx.conn,
        tenant_id=tx.tenant_id,
        metadata=json_param(metadata),
        name=name,
        code=code,
        external_id=external_id,
    )
    return None if row is None else to_route(row)


async def insert_route(
    tx: Tx,
    *,
    name: str,
    code: str | None,
    external_id: str | None,
    is_active: bool,
    metadata: dict[str, Any],
) -> Route:
    row = await queries.routes.insert_route(
        tx.conn,
        tenant_id=tx.tenant_id,
        metadata=json_param(metadata),
        is_active=is_active,
        name=name,
        code=code,
        external_id=external_id,
    )
    return to_route(row)


async def update_route(tx: Tx, route_id: uuid.UUID, **values: Any) -> Route:
    """Write the route's editable fields (``values``, merged by the caller)."""
    return to_route(await queries.routes.update_route(tx.conn, tenant_id=tx.tenant_id, id=route_id, **values))


async def list_route_operators(tx: Tx, route_id: uuid.UUID) -> list[RouteOperator]:
    rows = queries.routes.list_route_operators(tx.conn, tenant_id=tx.tenant_id, route_id=route_id)
    return [from_row(RouteOperator, r, name=join_name(r["first_name"], r["last_name"])) async for r in rows]


async def assign_operator(
    tx: Tx, route_id: uuid.UUID, operator_id: uuid.UUID, role: str | None
) -> RouteOperatorLink:
    row = await queries.routes.assign_operator(
        tx.conn, tenant_id=tx.tenant_id, route_id=route_id, operator_id=operator_id, role=role
    )
    return from_row(RouteOperatorLink, row)


async def unassign_operator(tx: Tx, route_id: uuid.UUID, operator_id: uuid.UUID) -> bool:
    """False when the operator was not linked to the route."""
    removed = await queries.routes.unassign_operator(
        tx.conn, tenant_id=tx.tenant_id, route_id=route_id, operator_id=operator_id
    )
    return removed is not None
