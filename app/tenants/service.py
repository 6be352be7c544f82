"""Tenant setup and the tenant views that depend on who is asking."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.auth import repo as auth
from app.auth.permissions import permissions_for
from app.auth.principal import Principal
from app.db import Connection, use_tenant
from app.errors import NotFound
from app.state import Services
from app.structs import from_row
from app.tenants import repo
from app.tenants.schemas import Tenant, TenantCreated, TenantSetup, TenantSummary
from app.tenants.seeds import seed_tenant
from app.users import repo as users

__all__ = ("get_visible", "list_mine", "list_visible", "setup", "update")


async def setup(conn: Connection, services: Services, data: TenantSetup) -> TenantCreated:
    """Create the tenant, create or link its admin (an existing email keeps its password and whatever it
    holds in other tenants) as ADMIN of this tenant only, and seed the tenant's defaults: one
    transaction, all of it as reten_identity (Citus refuses a role switch after a distributed write)."""
    tenant_id = uuid.uuid4()
    tenant = await repo.create(conn, tenant_id, data.name, data.slug)
    tx = await use_tenant(conn, tenant_id)
    admin = await users.get_by_email(conn, data.admin_email.strip())
    if admin is None:
        admin = await users.create(
            conn,
            email=data.admin_email.strip(),
            password_hash=await services.passwords.hash(data.admin_password),
            first_name=data.admin_first_name,
            last_name=data.admin_last_name,
        )
    await users.add_membership(tx, admin["id"], ["ADMIN"])
    await seed_tenant(tx)
    return TenantCreated(id=tenant.id, name=tenant.name, slug=tenant.slug)


async def list_mine(conn: Connection, principal: Principal) -> list[TenantSummary]:
    rows = await auth.user_tenants(conn, principal.user_id)
    return [TenantSummary(id=r["id"], name=r["name"], slug=r["slug"]) for r in rows if r["is_active"]]


async def _viewable(conn: Connection, principal: Principal) -> list[asyncpg.Record]:
    """The tenants where the user's own roles grant VIEW_TENANTS (ADMIN there), not merely belongs to."""
    return [
        r
        for r in await auth.user_tenants(conn, principal.user_id)
        if "VIEW_TENANTS" in permissions_for(r["roles"])
    ]


async def list_visible(conn: Connection, principal: Principal) -> list[Tenant]:
    """SUPER_ADMIN sees every tenant; anyone else the tenants it administers."""
    if principal.is_super_admin:
        return await repo.list_all(conn)
    return [from_row(Tenant, r) for r in await _viewable(conn, principal)]


async def get_visible(conn: Connection, principal: Principal, tenant_id: uuid.UUID) -> Tenant:
    if not principal.is_super_admin and tenant_id not in {r["id"] for r in await _viewable(conn, principal)}:
        raise NotFound.of("Tenant")
    return await repo.get(conn, tenant_id)


async def update(
    conn: Connection, services: Services, principal: Principal, tenant_id: uuid.UUID, **changes: Any
) -> Tenant:
    """Rename, re-slug or (de)activate. A tenant switched off loses its cached API keys on this process
    at once (the others drop them within the cache TTL); its members are refused from their next request."""
    await get_visible(conn, principal, tenant_id)
    tenant = await repo.update(conn, tenant_id, **changes)
    if changes.get("is_active") is False:
        services.api_key_cache.evict_where(tenant_id)
    return tenant
