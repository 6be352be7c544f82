"""Typed access to the integration pull: the only module of the domain that names
``queries.integration``. Every statement runs in the transaction's tenant and names it; ``filters`` are
the statements' filter parameters (pull_status, status, result_status, channel, commerce_external_id,
operator_external_id, scheduled_from, scheduled_to), every one given (null when unused)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from app.db import Tx, queries
from app.structs import Keyset

__all__ = ("count_tasks", "pull_changes", "pull_tasks", "pull_tasks_at")


async def pull_tasks(
    tx: Tx, drive: str, *, after: Keyset, limit: int, counted: bool, **filters: Any
) -> list[asyncpg.Record]:
    """The tasks after ``after`` in (scheduled_at, id) order, through the statement variant ``drive``
    names (``""``, ``"_by_status"``, ``"_by_commerce"``), each with the total when ``counted``."""
    rows = getattr(queries.integration, "pull_tasks" + drive)(
        tx.conn,
        tenant_id=tx.tenant_id,
        after_scheduled_at=after[0],
        after_id=after[1],
        limit=limit,
        counted=counted,
        **filters,
    )
    return [r async for r in rows]


async def pull_tasks_at(tx: Tx, *, limit: int, offset: int, **filters: Any) -> list[asyncpg.Record]:
    """A page by offset, each row with the total."""
    rows = queries.integration.pull_tasks_at(
        tx.conn, tenant_id=tx.tenant_id, limit=limit, offset=offset, **filters
    )
    return [r async for r in rows]


async def count_tasks(tx: Tx, **filters: Any) -> int:
    count: int = await queries.integration.count_tasks(tx.conn, tenant_id=tx.tenant_id, **filters)
    return count


async def pull_changes(
    tx: Tx, *, updated_since: datetime, settle_s: float, after: Keyset, limit: int, **filters: Any
) -> list[asyncpg.Record]:
    """The tasks changed at or after ``updated_since`` (and settled), after ``after`` in (updated_at, id)
    order."""
    rows = queries.integration.pull_changes(
        tx.conn,
        tenant_id=tx.tenant_id,
        updated_since=updated_since,
        settle_s=settle_s,
        after_updated_at=after[0],
        after_id=after[1],
        limit=limit,
        **filters,
    )
    return [r async for r in rows]
