"""Tenant defaults, seeded by POST /api/tenant/setup in the same transaction, as reten_identity
(granted just these inserts: migrations/0008) with the new tenant's context set (CONTRACT.md §3: the
task result types of the docs example; no target-resolution config, the built-in default applies until
the tenant creates one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.activity_config.service import seed_defaults
from app.db import Tx

__all__ = ("SEEDERS", "seed_tenant")

Seeder = Callable[[Tx], Awaitable[None]]
SEEDERS: list[Seeder] = [seed_defaults]


async def seed_tenant(tx: Tx) -> None:
    for seeder in SEEDERS:
        await seeder(tx)
