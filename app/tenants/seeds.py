"""Tenant defaults, seeded by POST /api/tenant/setup in the same transaction, as reten_identity
(granted just these inserts: migrations/0008) with the new tenant's context set (CONTRACT.md §3: the
task result types of the docs example; no target-resolution config, the built-in default applies until
the tenant creates one)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from app.activity_config.service import seed_defaults
from app.db import Connection

__all__ = ("SEEDERS", "seed_tenant")

Seeder = Callable[[Connection, uuid.UUID], Awaitable[None]]
SEEDERS: list[Seeder] = [seed_defaults]


async def seed_tenant(conn: Connection, tenant_id: uuid.UUID) -> None:
    for seeder in SEEDERS:
        await seeder(conn, tenant_id)
