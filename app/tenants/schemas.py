from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from app.structs import CamelInput, Email, Name, OptionalName, Output, Password, Timestamp, whole

__all__ = ("Slug", "Tenant", "TenantCreated", "TenantSetup", "TenantSummary", "TenantUpdate")

Slug = Annotated[str, msgspec.Meta(pattern=whole(r"[a-z0-9]+(-[a-z0-9]+)*"), max_length=100)]


class TenantSetup(CamelInput):
    name: Name
    slug: Slug
    admin_email: Email
    admin_password: Password
    admin_first_name: Name
    admin_last_name: OptionalName


class TenantUpdate(CamelInput):
    name: Name | None = None
    slug: Slug | None = None
    is_active: bool | None = None


class TenantCreated(Output):
    id: uuid.UUID
    name: str
    slug: str


class TenantSummary(Output):
    id: uuid.UUID
    name: str
    slug: str


class Tenant(Output):
    id: uuid.UUID
    name: str
    slug: str
    is_active: bool
    created_at: Timestamp
