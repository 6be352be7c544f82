"""User administration inside the active tenant (CONTRACT.md §2).

Roles are held per membership, so what a manager does to a user's roles or membership here changes
nothing in any other tenant. What is global about a user (its password, and its active flag, email and
username should routes for them come) is changed only by a caller who outranks the user in every tenant
the user belongs to (a SUPER_ADMIN always may): otherwise one tenant's admin could take over an account
another tenant relies on."""

from __future__ import annotations

import uuid

from app.api_keys import repo as api_keys
from app.auth import repo as auth
from app.auth.permissions import ROLES, highest_rank, normalize_roles
from app.auth.principal import Principal
from app.db import Connection, Tx
from app.errors import IDENTIFIER_TAKEN, BadRequest, Conflict, Forbidden
from app.state import Services
from app.structs import from_row
from app.users import repo
from app.users.schemas import TenantUser, UserCreate, UserRoles

__all__ = (
    "create_user",
    "ensure_manages",
    "ensure_outranks_everywhere",
    "remove_from_tenant",
    "reset_password",
    "update_roles",
)


def ensure_manages(caller: Principal, target_roles: list[str], message: str) -> None:
    """The caller may act on a user only when the user's highest role is strictly below its own."""
    if highest_rank(target_roles) <= highest_rank(caller.roles):
        raise Forbidden(message)


async def ensure_outranks_everywhere(
    conn: Connection, caller: Principal, user_id: uuid.UUID, action: str
) -> None:
    """Before changing what is global about a user: the caller must be a member of every tenant the user
    belongs to and hold a strictly higher role than the user in each (a SUPER_ADMIN always may). The
    user's platform flag is covered by the caller-tenant check that comes first (``ensure_manages`` on
    the member row, whose roles lead with SUPER_ADMIN)."""
    if caller.is_super_admin:
        return
    mine = {t["id"]: t["roles"] for t in await auth.user_tenants(conn, caller.user_id)}
    for tenant in await auth.user_tenants(conn, user_id):
        held = mine.get(tenant["id"])
        if held is None or highest_rank(tenant["roles"]) <= highest_rank(held):
            raise Forbidden(
                f"Cannot {action}: the user also belongs to another tenant where you do not outrank them"
            )


def _grantable(caller: Principal, requested: list[str]) -> list[str]:
    roles, unknown = normalize_roles(requested)
    if unknown:
        raise BadRequest.field("roles", f"unknown role(s) {', '.join(unknown)}; use {', '.join(ROLES)}")
    if not roles:
        raise BadRequest.field("roles", "at least one role is required")
    if highest_rank(roles) <= highest_rank(caller.roles):
        raise Forbidden("Cannot grant a role at the same or a higher level than your own")
    return roles


def _username(value: str | None) -> str | None:
    if value is not None and "@" in value:
        # Emails always hold '@': a username without one can never be taken for someone's email.
        raise BadRequest.field("username", "must not contain '@' (the login field takes email or username)")
    return value


async def create_user(tx: Tx, services: Services, caller: Principal, data: UserCreate) -> TenantUser:
    """A new account, member of the active tenant with ``roles``. An email or username already in use
    anywhere answers the one neutral 409 (``IDENTIFIER_TAKEN``), never linking the existing account: any
    ADMIN can create an account for any email without proving it owns it, so linking would hand the
    creator's password to the next tenant that adds that email. A SUPER_ADMIN links an existing account
    (its password and names unchanged), as tenant setup does."""
    roles = _grantable(caller, data.roles)
    username = _username(data.username)
    email = data.email.strip()
    # Hashed on every path: the time of the answer must not tell whether the account exists.
    password_hash = await services.passwords.hash(data.password)
    existing = await repo.get_by_email(tx.conn, email) if caller.is_super_admin else None
    if existing is None:
        # A taken email or username fails its unique index: the error table answers IDENTIFIER_TAKEN.
        existing = await repo.create(
            tx.conn,
            email=email,
            username=username,
            password_hash=password_hash,
            first_name=data.first_name,
            last_name=data.last_name,
        )
    if not await repo.add_membership(tx, existing["id"], roles):
        raise Conflict(IDENTIFIER_TAKEN)
    return from_row(TenantUser, existing, roles=roles)


async def update_roles(
    tx: Tx, services: Services, caller: Principal, user_id: uuid.UUID, requested: list[str]
) -> UserRoles:
    """The user's roles in the caller's tenant only; its keys there re-read their creator's roles at once
    on this process (within the key cache TTL on the others)."""
    target = await repo.get_member(tx, user_id)
    ensure_manages(caller, target["roles"], "Cannot modify roles of a user at same or higher level")
    roles = _grantable(caller, requested)
    updated = await repo.set_roles(tx, user_id, roles)
    services.api_key_cache.evict_where(tx.tenant_id, user_id)
    return updated


async def remove_from_tenant(tx: Tx, services: Services, caller: Principal, user_id: uuid.UUID) -> None:
    """End the membership and revoke every key the user created in this tenant (revoked for good: a later
    re-link does not bring them back)."""
    target = await repo.get_member(tx, user_id)
    ensure_manages(caller, target["roles"], "Cannot remove a user at same or higher level")
    await repo.remove_membership(tx, user_id)
    for key_id in await api_keys.revoke_for_user(tx, user_id):
        services.api_key_cache.evict(key_id)


async def reset_password(
    tx: Tx, services: Services, caller: Principal, user_id: uuid.UUID, new_password: str
) -> None:
    target = await repo.get_member(tx, user_id)
    ensure_manages(caller, target["roles"], "Cannot reset password for a user at same or higher level")
    await ensure_outranks_everywhere(tx.conn, caller, user_id, "reset this user's password")
    await repo.set_password(tx.conn, user_id, await services.passwords.hash(new_password))
    await auth.revoke_user_refresh_tokens(tx.conn, user_id)
