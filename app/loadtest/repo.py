"""The load-test harness's own statements (``sql/loadtest/``): bulk seeding on direct connections."""

from __future__ import annotations

import datetime
import uuid

import asyncpg

from app.db import Tx, queries

__all__ = ("seed_directory", "seed_tasks")


async def seed_directory(tx: Tx) -> asyncpg.Record:
    """The ids and external ids of the tenant's operators and commerces, as the harness needs them."""
    row: asyncpg.Record = await queries.loadtest.seed_directory(tx.conn, tenant_id=tx.tenant_id)
    return row


async def seed_tasks(
    tx: Tx,
    *,
    first: int,
    count: int,
    commerce_ids: list[uuid.UUID],
    route_id: uuid.UUID,
    operator_ids: list[uuid.UUID],
    scheduled_from: datetime.datetime,
) -> None:
    """``count`` tasks numbered from ``first``, spread over the given commerces and operators."""
    await queries.loadtest.seed_tasks(
        tx.conn,
        tenant_id=tx.tenant_id,
        first=first,
        count=count,
        commerce_ids=commerce_ids,
        route_id=route_id,
        operator_ids=operator_ids,
        scheduled_from=scheduled_from,
    )
