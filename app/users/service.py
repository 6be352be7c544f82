"""User administration inside the active tenant, with the role hierarchy (CONTRACT.md §2)."""

from __future__ import annotations

import uuid

from app.auth.permissions import ROLES, highest_rank, normalize_roles
from app.auth.principal import Principal
from app.db import Connection, queries
from app.errors import BadRequest, Forbidden
from app.state import Services
from app.structs import from_row
from app.users import repo
from app.users.schemas import TenantUser, UserCreate, UserRoles

__all__ = ("create_user", "ensure_manages", "remove_from_tenant", "reset_password", "update_roles")


def ensure_manages(caller: Principal, target_roles: list[str], message: str) -> None:
    """The caller may act on a user only when the user's highest role is strictly below its own."""
    if highest_rank(target_roles) <= highest_rank(caller.roles):
        raise Forbidden(message)


def _grantable(caller: Principal, requested: list[str]) -> list[str]:
    roles, unknown = normalize_roles(requested)
    if unknown:
        raise BadRequest.field("roles", f"unknown role(s) {', '.join(unknown)}; use {', '.join(ROLES)}")
    if not roles:
        raise BadRequest.field("roles", "at least one role is required")
    if highest_rank(roles) <= highest_rank(caller.roles):
        raise Forbidden("Cannot grant a role at the same or a higher level than your own")
    return roles


async def create_user(
    conn: Connection, services: Services, caller: Principal, data: UserCreate
) -> TenantUser:
    roles = _grantable(caller, data.roles)
    password_hash = await services.passwords.hash(data.password)
    row = await repo.create(
        conn,
        email=data.email.strip(),
        username=data.username,
        password_hash=password_hash,
        first_name=data.first_name,
        last_name=data.last_name,
        roles=roles,
    )
    await repo.add_membership(conn, caller.tenant, row["id"])
    return from_row(TenantUser, row)


async def update_roles(
    conn: Connection, caller: Principal, user_id: uuid.UUID, requested: list[str]
) -> UserRoles:
    target = await repo.get_member(conn, caller.tenant, user_id)
    ensure_manages(caller, target["roles"], "Cannot modify roles of a user at same or higher level")
    roles = _grantable(caller, requested)
    return from_row(UserRoles, await repo.set_roles(conn, user_id, roles))


async def remove_from_tenant(conn: Connection, caller: Principal, user_id: uuid.UUID) -> None:
    target = await repo.get_member(conn, caller.tenant, user_id)
    ensure_manages(caller, target["roles"], "Cannot remove a user at same or higher level")
    await repo.remove_membership(conn, caller.tenant, user_id)


async def reset_password(
    conn: Connection, services: Services, caller: Principal, user_id: uuid.UUID, new_password: str
) -> None:
    target = await repo.get_member(conn, caller.tenant, user_id)
    ensure_manages(caller, target["roles"], "Cannot reset password for a user at same or higher level")
    await repo.set_password(conn, user_id, await services.passwords.hash(new_password))
    await queries.auth.revoke_user_refresh_tokens(conn, user_id=user_id)
