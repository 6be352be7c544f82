"""Commerce rules: create and sync (through the sync planner), PATCH with merged metadata, soft delete,
and the single-row operations on addresses, people, roles and contacts."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from app.commerces import repo, sync
from app.commerces.schemas import (
    Address,
    AddressCreate,
    AddressUpdate,
    Commerce,
    CommerceCreate,
    CommerceDetail,
    CommerceSync,
    CommerceUpdate,
    Contact,
    ContactCreate,
    ContactUpdate,
    Person,
    PersonCreate,
    PersonUpdate,
    contact_problem,
)
from app.db import Tx
from app.errors import BadRequest, Conflict, NotFound
from app.structs import SyncResult, merge_patch, present, split_name

__all__ = (
    "add_address",
    "add_contact",
    "add_person",
    "add_role",
    "create",
    "deactivate",
    "remove_address",
    "remove_contact",
    "remove_person",
    "remove_role",
    "run_sync",
    "update",
    "update_address",
    "update_contact",
    "update_person",
)


# ---- commerces --------------------------------------------------------------------------------------
async def create(tx: Tx, item: CommerceCreate) -> CommerceDetail:
    """One sync item; a soft-deleted commerce with the same external_id is reactivated."""
    sync.check_item(item)
    await repo.lock_syncs(tx)
    if await repo.active_commerce_id(tx, item.external_id):
        raise Conflict("external_id already exists")
    _, ids = await sync.apply(tx, [item], batch=False)
    return await repo.commerce_detail(tx, ids[item.external_id])


async def run_sync(tx: Tx, body: CommerceSync) -> SyncResult:
    sync.check_items(body.items)
    await repo.lock_syncs(tx)
    result, _ = await sync.apply(tx, body.items)
    return result


async def update(tx: Tx, commerce_id: uuid.UUID, data: CommerceUpdate) -> Commerce:
    row = await repo.get_commerce(tx, commerce_id, lock=True)
    fields = ("name", "global_external_id", "tax_id", "is_active", "metadata")
    merged = merge_patch(row, present(data), fields)
    return await repo.update_commerce(tx, commerce_id, **merged)


async def deactivate(tx: Tx, commerce_id: uuid.UUID) -> None:
    if not await repo.deactivate_commerce(tx, commerce_id):
        raise NotFound.of("Commerce")


# ---- addresses --------------------------------------------------------------------------------------
async def add_address(tx: Tx, commerce_id: uuid.UUID, data: AddressCreate) -> Address:
    await repo.get_commerce(tx, commerce_id)
    row = {"id": uuid.uuid4(), "commerce_id": commerce_id, **msgspec.structs.asdict(data)}
    if data.is_primary:
        await _clear_address_primaries(tx, commerce_id, row["id"])
    (created,) = await repo.insert_addresses(tx, [row])
    return repo.to_address(created)


async def update_address(
    tx: Tx, commerce_id: uuid.UUID, address_id: uuid.UUID, data: AddressUpdate
) -> Address:
    changes = present(data)
    row = {**dict(await repo.get_address(tx, commerce_id, address_id)), **changes}
    if not row["is_active"] and "is_primary" not in changes:
        row["is_primary"] = False
    if row["is_primary"] and not row["is_active"]:
        raise BadRequest.field("is_primary", "an inactive address cannot be primary")
    if row["is_primary"]:
        await _clear_address_primaries(tx, commerce_id, address_id)
    (updated,) = await repo.update_addresses(tx, [_jsonable(row)])
    return repo.to_address(updated)


async def remove_address(tx: Tx, commerce_id: uuid.UUID, address_id: uuid.UUID) -> None:
    await update_address(tx, commerce_id, address_id, AddressUpdate(is_active=False))


async def _clear_address_primaries(tx: Tx, commerce_id: uuid.UUID, keep: uuid.UUID) -> None:
    await repo.clear_address_primaries(tx, [{"commerce_id": commerce_id, "id": keep}])


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A fetched row as a bulk-write row (timestamps are the database's to set)."""
    return {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}


# ---- people and roles -------------------------------------------------------------------------------
async def _person_out(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID) -> Person:
    row = await repo.get_person(tx, commerce_id, person_id)
    contacts = await repo.contacts_by_person(tx, [person_id])
    return repo.to_person(row, contacts[person_id])


async def add_person(tx: Tx, commerce_id: uuid.UUID, data: PersonCreate) -> Person:
    await repo.get_commerce(tx, commerce_id)
    first, last = split_name(data.name) if data.name else ("", "")
    person_id = uuid.uuid4()
    row = {
        "id": person_id,
        "commerce_id": commerce_id,
        "external_id": data.external_id,
        "first_name": first,
        "last_name": last,
        "source": data.source,
    }
    await repo.insert_people(tx, [row])
    roles = [{"commerce_user_id": person_id, "role": r} for r in sorted(set(data.roles))]
    await repo.add_roles(tx, roles)
    return await _person_out(tx, commerce_id, person_id)


async def update_person(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID, data: PersonUpdate) -> Person:
    current = await repo.get_person(tx, commerce_id, person_id)
    changes = present(data)
    if "name" in changes:
        changes["first_name"], changes["last_name"] = split_name(changes.pop("name"))
    fields = ("external_id", "first_name", "last_name", "source", "is_active")
    row = {"id": person_id, **merge_patch(current, changes, fields)}
    await repo.update_people(tx, [row])
    return await _person_out(tx, commerce_id, person_id)


async def remove_person(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID) -> None:
    await update_person(tx, commerce_id, person_id, PersonUpdate(is_active=False))


async def add_role(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID, role: str) -> Person:
    await repo.get_person(tx, commerce_id, person_id)
    await repo.add_roles(tx, [{"commerce_user_id": person_id, "role": role}])
    return await _person_out(tx, commerce_id, person_id)


async def remove_role(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID, role: str) -> None:
    await repo.get_person(tx, commerce_id, person_id)
    removed = await repo.remove_roles(tx, [{"commerce_user_id": person_id, "role": role}])
    if not removed:
        raise NotFound("Role not held by this commerce user")


# ---- contacts ---------------------------------------------------------------------------------------
def _check_contact(contact_type: str, value: str) -> None:
    problem = contact_problem(contact_type, value)
    if problem:
        raise BadRequest.field("value", problem)


async def _clear_contact_primaries(tx: Tx, person_id: uuid.UUID, contact_type: str, keep: uuid.UUID) -> None:
    await repo.clear_contact_primaries(
        tx, [{"commerce_user_id": person_id, "contact_type": contact_type, "id": keep}]
    )


async def add_contact(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID, data: ContactCreate) -> Contact:
    """A new contact; a removed contact with the same type and value is reactivated."""
    _check_contact(data.contact_type, data.value)
    await repo.get_person(tx, commerce_id, person_id)
    existing = await repo.find_contact(tx, person_id, data.contact_type, data.value)
    if existing is not None and existing["is_active"]:
        raise Conflict("contact already exists")
    row_id = existing["id"] if existing is not None else uuid.uuid4()
    if data.is_primary:
        await _clear_contact_primaries(tx, person_id, data.contact_type, row_id)
    row = {"id": row_id, "commerce_user_id": person_id, "is_active": True, **msgspec.structs.asdict(data)}
    write = repo.update_contacts if existing else repo.insert_contacts
    (written,) = await write(tx, [row])
    return repo.to_contact(written)


async def update_contact(
    tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID, contact_id: uuid.UUID, data: ContactUpdate
) -> Contact:
    await repo.get_person(tx, commerce_id, person_id)
    changes = present(data)
    row = {**_jsonable(dict(await repo.get_contact(tx, person_id, contact_id))), **changes}
    if not row["is_active"] and "is_primary" not in changes:
        row["is_primary"] = False
    _check_contact(row["contact_type"], row["value"])
    if row["is_primary"] and not row["is_active"]:
        raise BadRequest.field("is_primary", "an inactive contact cannot be primary")
    if row["is_primary"]:
        await _clear_contact_primaries(tx, person_id, row["contact_type"], contact_id)
    (written,) = await repo.update_contacts(tx, [row])
    return repo.to_contact(written)


async def remove_contact(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    await update_contact(tx, commerce_id, person_id, contact_id, ContactUpdate(is_active=False))
