"""Typed access to users and memberships (run as reten_identity: identity routes only)."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection, queries
from app.errors import NotFound
from app.structs import Page, Pagination, from_row
from app.users.schemas import TenantUser

__all__ = (
    "add_membership",
    "create",
    "get",
    "get_by_email",
    "get_for_login",
    "get_member",
    "list_members",
    "remove_membership",
    "set_password",
    "set_roles",
    "user_tenants",
)


async def get_for_login(conn: Connection, identifier: str) -> Any | None:
    return await queries.users.get_for_login(conn, identifier=identifier)


async def get(conn: Connection, user_id: uuid.UUID) -> Any:
    row = await queries.users.get_by_id(conn, id=user_id)
    if row is None:
        raise NotFound.of("User")
    return row


async def get_by_email(conn: Connection, email: str) -> Any | None:
    return await queries.users.get_by_email(conn, email=email)


async def create(
    conn: Connection,
    *,
    email: str,
    password_hash: str,
    first_name: str,
    last_name: str,
    username: str | None = None,
    is_super_admin: bool = False,
) -> Any:
    """A platform user; what it may do in a tenant comes with its membership (``add_membership``)."""
    return await queries.users.insert_user(
        conn,
        email=email,
        username=username,
        password_hash=password_hash,
        first_name=first_name,
        last_name=last_name,
        is_super_admin=is_super_admin,
    )


async def set_password(conn: Connection, user_id: uuid.UUID, password_hash: str) -> None:
    if await queries.users.set_password(conn, id=user_id, password_hash=password_hash) is None:
        raise NotFound.of("User")


async def set_roles(conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID, roles: list[str]) -> Any:
    """The member's roles in this tenant (and nowhere else)."""
    row = await queries.users.set_roles(conn, tenant_id=tenant_id, user_id=user_id, roles=roles)
    if row is None:
        raise NotFound.of("User")
    return row


async def add_membership(
    conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID, roles: list[str]
) -> bool:
    """Make the user a member with ``roles``; False (nothing changed) when it already is one."""
    added = await queries.users.add_membership(conn, tenant_id=tenant_id, user_id=user_id, roles=roles)
    return added is not None


async def remove_membership(conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    if await queries.users.remove_membership(conn, tenant_id=tenant_id, user_id=user_id) is None:
        raise NotFound.of("User")


async def get_member(conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """A user of this tenant; another tenant's user (or none) is a 404, never a 403."""
    row = await queries.users.get_member(conn, tenant_id=tenant_id, user_id=user_id)
    if row is None:
        raise NotFound.of("User")
    return row


async def list_members(conn: Connection, tenant_id: uuid.UUID, page: Pagination) -> Page[TenantUser]:
    rows = [
        r
        async for r in queries.users.list_members(
            conn, tenant_id=tenant_id, limit=page.limit, offset=page.offset
        )
    ]
    total = await queries.users.count_members(conn, tenant_id=tenant_id)
    return page.wrap([from_row(TenantUser, r) for r in rows], total)


async def user_tenants(conn: Connection, user_id: uuid.UUID) -> list[Any]:
    """Every tenant the user belongs to (active or not), with its ``roles`` there."""
    return [r async for r in queries.auth.user_tenants(conn, user_id=user_id)]
