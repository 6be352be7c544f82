"""Typed access to operators (and the deactivation of their route links): the only module of the domain
that names ``queries.operators``. Every statement runs in the transaction's tenant and names it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db import Tx, fetch_one, json_param, paginate, queries, tenant_lock
from app.operators.schemas import Operator
from app.structs import Page, Pagination, decode_metadata, from_row, join_name

__all__ = (
    "deactivate_links",
    "emails_taken",
    "find_operator",
    "get_operator",
    "insert_operator",
    "list_operators",
    "lock_syncs",
    "to_operator",
    "update_operator",
    "upsert_operators",
)


def to_operator(row: asyncpg.Record) -> Operator:
    return from_row(
        Operator,
        row,
        name=join_name(row["first_name"], row["last_name"]),
        metadata=decode_metadata(row["metadata"]),
    )


async def lock_syncs(tx: Tx) -> None:
    """Operator syncs of one tenant run one at a time."""
    await tenant_lock(tx.conn, tx.tenant_id, "operator-sync")


async def list_operators(tx: Tx, page: Pagination, **filters: Any) -> Page[Operator]:
    return await paginate(
        tx.conn,
        page,
        queries.operators.list_operators,
        queries.operators.count_operators,
        to_operator,
        tenant_id=tx.tenant_id,
        **filters,
    )


async def get_operator(tx: Tx, operator_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record:
    """The operator (row-locked with ``lock``), or 404."""
    query = queries.operators.lock_operator if lock else queries.operators.get_operator
    return await fetch_one(query, "Operator", tx.conn, tenant_id=tx.tenant_id, id=operator_id)


async def find_operator(tx: Tx, operator_id: uuid.UUID) -> asyncpg.Record | None:
    """The operator, or None (the caller decides what its absence means)."""
    return await queries.operators.get_operator(tx.conn, tenant_id=tx.tenant_id, id=operator_id)


async def insert_operator(
    tx: Tx,
    *,
    type: str,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None,
    external_id: str | None,
    is_placeholder: bool,
    metadata: dict[str, Any],
) -> Operator | None:
    """A new operator (or a soft-deleted one with the same type and external_id, reactivated); None when
    an active operator already has them."""
    row = await queries.operators.insert_operator(
        tx.conn,
        tenant_id=tx.tenant_id,
        type=type,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        external_id=external_id,
        is_placeholder=is_placeholder,
        metadata=json_param(metadata),
    )
    return None if row is None else to_operator(row)


async def update_operator(tx: Tx, operator_id: uuid.UUID, **values: Any) -> Operator:
    """Write the operator's editable fields (``values``, merged by the caller)."""
    row = await queries.operators.update_operator(tx.conn, tenant_id=tx.tenant_id, id=operator_id, **values)
    return to_operator(row)


async def deactivate_links(tx: Tx, operator_id: uuid.UUID) -> None:
    """The operator's active route links become inactive."""
    await queries.operators.deactivate_links(tx.conn, tenant_id=tx.tenant_id, operator_id=operator_id)


async def emails_taken(tx: Tx, items: list[dict[str, Any]]) -> list[asyncpg.Record]:
    """Of ``items`` ({ord, type, external_id, email}), those whose email another operator holds."""
    query = queries.operators.email_taken
    return [r async for r in query(tx.conn, tenant_id=tx.tenant_id, items=json_param(items))]


async def upsert_operators(tx: Tx, items: list[dict[str, Any]]) -> list[asyncpg.Record]:
    """Insert or update operators by (type, external_id); the rows written (``created`` for inserts)."""
    return [
        r
        async for r in queries.operators.upsert_operators(
            tx.conn, tenant_id=tx.tenant_id, items=json_param(items)
        )
    ]
