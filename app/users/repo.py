"""Typed access to users (a global table: ``conn``) and a tenant's memberships (row-level security by
tenant: ``tx``), run as reten_identity (identity routes only). The only module of the domain that names
``queries.users``."""

from __future__ import annotations

import uuid

import asyncpg

from app.db import Connection, Tx, queries
from app.errors import NotFound
from app.structs import Page, Pagination, from_row
from app.users.schemas import TenantUser, UserRoles

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
)


# ---- users (global) ---------------------------------------------------------------------------------
async def get_for_login(conn: Connection, identifier: str) -> asyncpg.Record | None:
    return await queries.users.get_for_login(conn, identifier=identifier)


async def get(conn: Connection, user_id: uuid.UUID) -> asyncpg.Record:
    row = await queries.users.get_by_id(conn, id=user_id)
    if row is None:
        raise NotFound.of("User")
    return row


async def get_by_email(conn: Connection, email: str) -> asyncpg.Record | None:
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
) -> asyncpg.Record:
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


# ---- memberships of the transaction's tenant --------------------------------------------------------
async def set_roles(tx: Tx, user_id: uuid.UUID, roles: list[str]) -> UserRoles:
    """The member's roles in this tenant (and nowhere else)."""
    row = await queries.users.set_roles(tx.conn, tenant_id=tx.tenant_id, user_id=user_id, roles=roles)
    if row is None:
        raise NotFound.of("User")
    return from_row(UserRoles, row)


async def add_membership(tx: Tx, user_id: uuid.UUID, roles: list[str]) -> bool:
    """Make the user a member with ``roles``; False (nothing changed) when it already is one."""
    added = await queries.users.add_membership(tx.conn, tenant_id=tx.tenant_id, user_id=user_id, roles=roles)
    return added is not None


async def remove_membership(tx: Tx, user_id: uuid.UUID) -> None:
    if await queries.users.remove_membership(tx.conn, tenant_id=tx.tenant_id, user_id=user_id) is None:
        raise NotFound.of("User")


async def get_member(tx: Tx, user_id: uuid.UUID) -> asyncpg.Record:
    """A user of this tenant; another tenant's user (or none) is a 404, never a 403."""
    row = await queries.users.get_member(tx.conn, tenant_id=tx.tenant_id, user_id=user_id)
    if row is None:
        raise NotFound.of("User")
    return row


async def list_members(tx: Tx, page: Pagination) -> Page[TenantUser]:
    rows = [
        r
        async for r in queries.users.list_members(
            tx.conn, tenant_id=tx.tenant_id, limit=page.limit, offset=page.offset
        )
    ]
    total = await queries.users.count_members(tx.conn, tenant_id=tx.tenant_id)
    return page.wrap([from_row(TenantUser, r) for r in rows], total)
