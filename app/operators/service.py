"""Operators: list, get, create (reactivating a soft-deleted twin), PATCH, soft delete, and sync."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection, fetch_one, json_param, paginate, queries, tenant_lock
from app.errors import BadRequest, Conflict
from app.operators.schemas import Operator, OperatorCreate, OperatorSync, OperatorUpdate
from app.structs import (
    Page,
    Pagination,
    SyncResult,
    decode_metadata,
    first_duplicate,
    from_row,
    join_name,
    merge_patch,
    present,
    split_name,
)

__all__ = ("create", "deactivate", "get", "list_operators", "run_sync", "update")


def to_operator(row: Any) -> Operator:
    return from_row(
        Operator,
        row,
        name=join_name(row["first_name"], row["last_name"]),
        metadata=decode_metadata(row["metadata"]),
    )


async def list_operators(
    conn: Connection, tenant_id: uuid.UUID, page: Pagination, **filters: Any
) -> Page[Operator]:
    return await paginate(
        conn,
        page,
        queries.operators.list_operators,
        queries.operators.count_operators,
        to_operator,
        tenant_id=tenant_id,
        **filters,
    )


async def _row(conn: Connection, tenant_id: uuid.UUID, operator_id: uuid.UUID, *, lock: bool = False) -> Any:
    query = queries.operators.lock_operator if lock else queries.operators.get_operator
    return await fetch_one(query, "Operator", conn, tenant_id=tenant_id, id=operator_id)


async def get(conn: Connection, tenant_id: uuid.UUID, operator_id: uuid.UUID) -> Operator:
    return to_operator(await _row(conn, tenant_id, operator_id))


async def create(conn: Connection, tenant_id: uuid.UUID, data: OperatorCreate) -> Operator:
    first, last = split_name(data.name)
    row = await queries.operators.insert_operator(
        conn,
        tenant_id=tenant_id,
        type=data.type,
        first_name=first,
        last_name=last,
        email=data.email,
        phone=data.phone,
        external_id=data.external_id,
        is_placeholder=data.is_placeholder,
        metadata=json_param(data.metadata),
    )
    if row is None:
        raise Conflict("type and external_id already exist")
    return to_operator(row)


async def update(
    conn: Connection, tenant_id: uuid.UUID, operator_id: uuid.UUID, data: OperatorUpdate
) -> Operator:
    current = await _row(conn, tenant_id, operator_id, lock=True)
    changes = present(data)
    if "name" in changes:
        changes["first_name"], changes["last_name"] = split_name(changes.pop("name"))
    fields = ("first_name", "last_name", "email", "phone", "is_active", "metadata")
    merged = merge_patch(current, changes, fields)
    row = await queries.operators.update_operator(conn, tenant_id=tenant_id, id=operator_id, **merged)
    if not row["is_active"]:
        await queries.operators.deactivate_links(conn, tenant_id=tenant_id, operator_id=operator_id)
    return to_operator(row)


async def deactivate(conn: Connection, tenant_id: uuid.UUID, operator_id: uuid.UUID) -> None:
    await update(conn, tenant_id, operator_id, OperatorUpdate(is_active=False))


async def run_sync(conn: Connection, tenant_id: uuid.UUID, body: OperatorSync) -> SyncResult:
    items = body.items
    index = first_duplicate((i.type, i.external_id) for i in items)
    if index is not None:
        raise BadRequest.field(
            f"items[{index}].external_id", "type and external_id appear twice in this sync"
        )
    index = first_duplicate(i.email.lower() if i.email else None for i in items)
    if index is not None:
        raise BadRequest.field(f"items[{index}].email", "appears twice in this sync")
    await tenant_lock(conn, tenant_id, "operator-sync")
    emails = [
        {"ord": n, "type": i.type, "external_id": i.external_id, "email": i.email}
        for n, i in enumerate(items)
        if i.email
    ]
    if emails:
        query = queries.operators.email_taken
        taken = [r async for r in query(conn, tenant_id=tenant_id, items=json_param(emails))]
        if taken:
            raise Conflict(f"items[{taken[0]['ord']}].email: email already exists")
    rows = []
    for item in items:
        first, last = split_name(item.name)
        rows.append(
            {
                "type": item.type,
                "external_id": item.external_id,
                "first_name": first,
                "last_name": last,
                "email": item.email,
                "phone": item.phone,
                "metadata": item.metadata,
            }
        )
    written = [
        r async for r in queries.operators.upsert_operators(conn, tenant_id=tenant_id, items=json_param(rows))
    ]
    created = sum(r["created"] for r in written)
    return SyncResult(created=created, updated=len(written) - created, total=len(items))
