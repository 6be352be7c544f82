"""Operators: get, create (reactivating a soft-deleted twin), PATCH, soft delete, and sync."""

from __future__ import annotations

import uuid

from app.db import Tx
from app.errors import BadRequest, Conflict
from app.operators import repo
from app.operators.schemas import Operator, OperatorCreate, OperatorSync, OperatorUpdate
from app.structs import SyncResult, first_duplicate, merge_patch, present, split_name

__all__ = ("create", "deactivate", "get", "run_sync", "update")


async def get(tx: Tx, operator_id: uuid.UUID) -> Operator:
    return repo.to_operator(await repo.get_operator(tx, operator_id))


async def create(tx: Tx, data: OperatorCreate) -> Operator:
    first, last = split_name(data.name)
    operator = await repo.insert_operator(
        tx,
        type=data.type,
        first_name=first,
        last_name=last,
        email=data.email,
        phone=data.phone,
        external_id=data.external_id,
        is_placeholder=data.is_placeholder,
        metadata=data.metadata,
    )
    if operator is None:
        raise Conflict("type and external_id already exist")
    return operator


async def update(tx: Tx, operator_id: uuid.UUID, data: OperatorUpdate) -> Operator:
    current = await repo.get_operator(tx, operator_id, lock=True)
    changes = present(data)
    if "name" in changes:
        changes["first_name"], changes["last_name"] = split_name(changes.pop("name"))
    fields = ("first_name", "last_name", "email", "phone", "is_active", "metadata")
    merged = merge_patch(current, changes, fields)
    operator = await repo.update_operator(tx, operator_id, **merged)
    if not operator.is_active:
        await repo.deactivate_links(tx, operator_id)
    return operator


async def deactivate(tx: Tx, operator_id: uuid.UUID) -> None:
    await update(tx, operator_id, OperatorUpdate(is_active=False))


async def run_sync(tx: Tx, body: OperatorSync) -> SyncResult:
    items = body.items
    index = first_duplicate((i.type, i.external_id) for i in items)
    if index is not None:
        raise BadRequest.field(
            f"items[{index}].external_id", "type and external_id appear twice in this sync"
        )
    index = first_duplicate(i.email.lower() if i.email else None for i in items)
    if index is not None:
        raise BadRequest.field(f"items[{index}].email", "appears twice in this sync")
    await repo.lock_syncs(tx)
    emails = [
        {"ord": n, "type": i.type, "external_id": i.external_id, "email": i.email}
        for n, i in enumerate(items)
        if i.email
    ]
    if emails:
        taken = await repo.emails_taken(tx, emails)
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
    written = await repo.upsert_operators(tx, rows)
    created = sum(r["created"] for r in written)
    return SyncResult(created=created, updated=len(written) - created, total=len(items))
