"""Typed access to the global tenants table (as reten_identity)."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection, queries
from app.errors import NotFound
from app.structs import from_row
from app.tenants.schemas import Tenant

__all__ = ("create", "get", "list_all", "update")


async def create(conn: Connection, tenant_id: uuid.UUID, name: str, slug: str) -> Tenant:
    return from_row(Tenant, await queries.tenants.insert_tenant(conn, id=tenant_id, name=name, slug=slug))


async def list_all(conn: Connection) -> list[Tenant]:
    return [from_row(Tenant, r) async for r in queries.tenants.list_tenants(conn)]


async def get(conn: Connection, tenant_id: uuid.UUID) -> Tenant:
    row = await queries.tenants.get_tenant(conn, id=tenant_id)
    if row is None:
        raise NotFound.of("Tenant")
    return from_row(Tenant, row)


async def update(conn: Connection, tenant_id: uuid.UUID, **changes: Any) -> Tenant:
    row = await queries.tenants.update_tenant(
        conn,
        id=tenant_id,
        name=changes.get("name"),
        slug=changes.get("slug"),
        is_active=changes.get("is_active"),
    )
    if row is None:
        raise NotFound.of("Tenant")
    return from_row(Tenant, row)
