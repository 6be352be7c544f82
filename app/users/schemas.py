from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from app.auth.permissions import ROLES
from app.structs import CamelInput, Email, Name, OptionalName, Output, Password, any_case

__all__ = ("Me", "Membership", "RolesUpdate", "TenantUser", "UserCreate", "UserRoles")

# Any letter case (stored upper case); /schema lists the roles.
RoleList = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=32, pattern=any_case(*ROLES))]],
    msgspec.Meta(min_length=1, max_length=4),
]


class TenantUser(Output):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    roles: list[str]


class UserCreate(CamelInput):
    """Addition: create a platform user and make it a member of the active tenant."""

    email: Email
    password: Password
    first_name: Name
    last_name: OptionalName = ""
    username: Name | None = None
    roles: RoleList = msgspec.field(default_factory=lambda: ["VIEWER"])


class RolesUpdate(CamelInput):
    roles: RoleList


class UserRoles(Output):
    id: uuid.UUID
    roles: list[str]


class Membership(Output):
    tenant_id: uuid.UUID
    roles: list[str]


class Me(Output):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    tenant_ids: list[uuid.UUID]
    # The x-tenant-id tenant's roles when the header is sent, else the union over the active tenants;
    # SUPER_ADMIN leads for a platform admin.
    roles: list[str]
    # Addition: the roles held in each active tenant.
    memberships: list[Membership]
