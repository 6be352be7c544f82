from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post, put
from litestar.di import Provide

from app.auth.guards import access
from app.auth.principal import Principal
from app.db import Tx
from app.state import Services
from app.structs import Page, Pagination, provide_pagination
from app.users import repo, service
from app.users.schemas import RolesUpdate, TenantUser, UserCreate, UserRoles

__all__ = ("UserController",)


class UserController(Controller):
    path = "/api/user"
    tags = ["Users"]

    @get(
        "/tenant-users",
        operation_id="ListTenantUsers",
        summary="List the active tenant's users",
        dependencies={"pagination": Provide(provide_pagination(20), sync_to_thread=False)},
        **access("VIEW_USERS", auth="tenant_jwt", db_role="identity"),
    )
    async def list_tenant_users(self, tx: Tx, pagination: Pagination) -> Page[TenantUser]:
        return await repo.list_members(tx, pagination)

    @post(
        "/",
        operation_id="CreateUser",
        summary="Create a user in the active tenant (addition)",
        **access(
            "CREATE_USER",
            auth="tenant_jwt",
            db_role="identity",
            doc="Roles default to VIEWER and must be strictly below the caller's highest role; they are "
            "held in the active tenant only. An email or username already used by any account -> 409 "
            "with one neutral message (it does not say which, or where): the existing account is not "
            "linked, because an account created by someone else would then keep that someone's password. "
            "A SUPER_ADMIN caller links an existing account (password and names unchanged). "
            "`username` must not contain '@'.",
            statuses=(409,),
        ),
    )
    async def create_user(
        self, tx: Tx, services: Services, principal: Principal, data: UserCreate
    ) -> TenantUser:
        return await service.create_user(tx, services, principal, data)

    @put(
        "/{user_id:uuid}/roles",
        operation_id="UpdateUserRoles",
        summary="Replace a user's roles",
        **access(
            "UPDATE_USER",
            auth="tenant_jwt",
            db_role="identity",
            doc="Sets the user's roles in the active tenant only (roles are held per membership; the "
            "user's roles in other tenants do not change). The target must be a member of the active "
            "tenant and strictly below the caller, and the new roles strictly below the caller's.",
        ),
    )
    async def update_user_roles(
        self, tx: Tx, services: Services, principal: Principal, user_id: uuid.UUID, data: RolesUpdate
    ) -> UserRoles:
        return await service.update_roles(tx, services, principal, user_id, data.roles)

    @delete(
        "/{user_id:uuid}/tenant",
        operation_id="RemoveUserFromTenant",
        summary="Remove a user from the active tenant (addition)",
        **access(
            "UPDATE_USER",
            auth="tenant_jwt",
            db_role="identity",
            doc="Ends the membership (the account and its other tenants are untouched) and revokes every "
            "API key the user created in this tenant, for good. The target must be strictly below you.",
        ),
    )
    async def remove_user_from_tenant(
        self, tx: Tx, services: Services, principal: Principal, user_id: uuid.UUID
    ) -> None:
        await service.remove_from_tenant(tx, services, principal, user_id)
