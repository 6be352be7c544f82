from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, delete, get, patch, post

from app.auth.guards import access
from app.auth.principal import Principal
from app.db import Connection
from app.state import Services
from app.tenants import service
from app.tenants.schemas import Tenant, TenantCreated, TenantSetup, TenantSummary, TenantUpdate

__all__ = ("TenantController",)


class TenantController(Controller):
    path = "/api/tenant"
    tags = ["Tenants"]

    @post(
        "/setup",
        operation_id="SetupTenant",
        summary="Create a tenant with its admin user and defaults",
        **access(
            "CREATE_TENANT",
            auth="user",
            db_role="identity",
            doc="An existing admin email is linked (its password unchanged) as ADMIN of the new tenant "
            "only: what it holds in other tenants does not change. Seeds the result types of the docs. "
            "Isolation is row-level security on shared tables. Duplicate slug -> 409.",
            statuses=(409,),
        ),
    )
    async def setup_tenant(self, db: Connection, services: Services, data: TenantSetup) -> TenantCreated:
        return await service.setup(db, services, data)

    @get(
        "/",
        operation_id="ListTenants",
        summary="List tenants",
        **access(
            "VIEW_TENANTS",
            auth="user",
            db_role="identity",
            doc="SUPER_ADMIN sees every tenant; anyone else the tenants where it is ADMIN.",
        ),
    )
    async def list_tenants(self, db: Connection, principal: Principal) -> list[Tenant]:
        return await service.list_visible(db, principal)

    @get(
        "/mine",
        operation_id="ListMyTenants",
        summary="The active tenants you belong to (use an id as x-tenant-id)",
        **access(None, auth="user", db_role="identity"),
    )
    async def list_my_tenants(self, db: Connection, principal: Principal) -> list[TenantSummary]:
        return await service.list_mine(db, principal)

    @get(
        "/{tenant_id:uuid}",
        operation_id="GetTenant",
        summary="One tenant (addition)",
        **access("VIEW_TENANTS", auth="user", db_role="identity"),
    )
    async def get_tenant(self, db: Connection, principal: Principal, tenant_id: uuid.UUID) -> Tenant:
        return await service.get_visible(db, principal, tenant_id)

    @patch(
        "/{tenant_id:uuid}",
        operation_id="UpdateTenant",
        summary="Rename, change the slug, or (de)activate a tenant (addition)",
        **access("UPDATE_TENANT", auth="user", db_role="identity", statuses=(409,)),
    )
    async def update_tenant(
        self,
        db: Connection,
        services: Services,
        principal: Principal,
        tenant_id: uuid.UUID,
        data: TenantUpdate,
    ) -> Tenant:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        return await service.update(db, services, principal, tenant_id, **changes)

    @delete(
        "/{tenant_id:uuid}",
        operation_id="DeleteTenant",
        summary="Deactivate a tenant (soft delete, addition)",
        **access(
            "DELETE_TENANT",
            auth="user",
            db_role="identity",
            doc="Its members' requests are refused from the next one on (membership and tenant are read "
            "on every request). Its API keys are refused at once on the process that served this call, "
            "and within `API_KEY_CACHE_TTL_S` (default 30 s) on every other process, which keep a "
            "verified key that long. PATCH isActive=true restores it.",
        ),
    )
    async def delete_tenant(
        self, db: Connection, services: Services, principal: Principal, tenant_id: uuid.UUID
    ) -> None:
        await service.update(db, services, principal, tenant_id, is_active=False)
