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
from app.db import Connection, fetch_one, queries
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
async def create(conn: Connection, tenant_id: uuid.UUID, item: CommerceCreate) -> CommerceDetail:
    """One sync item; a soft-deleted commerce with the same external_id is reactivated."""
    sync.check_item(item)
    await sync.lock(conn, tenant_id)
    if await queries.commerces.active_commerce_id(conn, tenant_id=tenant_id, external_id=item.external_id):
        raise Conflict("external_id already exists")
    _, ids = await sync.apply(conn, tenant_id, [item], batch=False)
    return await repo.commerce_detail(conn, tenant_id, ids[item.external_id])


async def run_sync(conn: Connection, tenant_id: uuid.UUID, body: CommerceSync) -> SyncResult:
    sync.check_items(body.items)
    await sync.lock(conn, tenant_id)
    result, _ = await sync.apply(conn, tenant_id, body.items)
    return result


async def update(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, data: CommerceUpdate
) -> Commerce:
    row = await repo.get_commerce(conn, tenant_id, commerce_id, lock=True)
    fields = ("name", "global_external_id", "tax_id", "is_active", "metadata")
    merged = merge_patch(row, present(data), fields)
    updated = await queries.commerces.update_commerce(conn, tenant_id=tenant_id, id=commerce_id, **merged)
    return repo.to_commerce(updated)


async def deactivate(conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID) -> None:
    if await queries.commerces.deactivate_commerce(conn, tenant_id=tenant_id, id=commerce_id) is None:
        raise NotFound.of("Commerce")


# ---- addresses --------------------------------------------------------------------------------------
async def add_address(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, data: AddressCreate
) -> Address:
    await repo.get_commerce(conn, tenant_id, commerce_id)
    row = {"id": uuid.uuid4(), "commerce_id": commerce_id, **msgspec.structs.asdict(data)}
    if data.is_primary:
        await _clear_address_primaries(conn, tenant_id, commerce_id, row["id"])
    (created,) = await repo.write(conn, tenant_id, queries.commerces.insert_addresses, [row])
    return repo.to_address(created)


async def _address(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, address_id: uuid.UUID
) -> Any:
    query = queries.commerces.get_address
    return await fetch_one(
        query, "Address", conn, tenant_id=tenant_id, commerce_id=commerce_id, id=address_id
    )


async def update_address(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, address_id: uuid.UUID, data: AddressUpdate
) -> Address:
    changes = present(data)
    row = {**dict(await _address(conn, tenant_id, commerce_id, address_id)), **changes}
    if not row["is_active"] and "is_primary" not in changes:
        row["is_primary"] = False
    if row["is_primary"] and not row["is_active"]:
        raise BadRequest.field("is_primary", "an inactive address cannot be primary")
    if row["is_primary"]:
        await _clear_address_primaries(conn, tenant_id, commerce_id, address_id)
    (updated,) = await repo.write(conn, tenant_id, queries.commerces.update_addresses, [_jsonable(row)])
    return repo.to_address(updated)


async def remove_address(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, address_id: uuid.UUID
) -> None:
    await update_address(conn, tenant_id, commerce_id, address_id, AddressUpdate(is_active=False))


async def _clear_address_primaries(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, keep: uuid.UUID
) -> None:
    rows = [{"commerce_id": commerce_id, "id": keep}]
    await repo.write(conn, tenant_id, queries.commerces.clear_address_primaries, rows)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A fetched row as a bulk-write row (timestamps are the database's to set)."""
    return {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}


# ---- people and roles -------------------------------------------------------------------------------
async def _person(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID
) -> Any:
    query = queries.commerces.get_person
    return await fetch_one(
        query, "Commerce user", conn, tenant_id=tenant_id, commerce_id=commerce_id, id=person_id
    )


async def _person_out(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID
) -> Person:
    row = await _person(conn, tenant_id, commerce_id, person_id)
    contacts = await repo.contacts_by_person(conn, tenant_id, [person_id])
    return repo.to_person(row, contacts[person_id])


async def add_person(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, data: PersonCreate
) -> Person:
    await repo.get_commerce(conn, tenant_id, commerce_id)
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
    await repo.write(conn, tenant_id, queries.commerces.insert_people, [row])
    roles = [{"commerce_user_id": person_id, "role": r} for r in sorted(set(data.roles))]
    await repo.write(conn, tenant_id, queries.commerces.add_roles, roles)
    return await _person_out(conn, tenant_id, commerce_id, person_id)


async def update_person(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID, data: PersonUpdate
) -> Person:
    current = await _person(conn, tenant_id, commerce_id, person_id)
    changes = present(data)
    if "name" in changes:
        changes["first_name"], changes["last_name"] = split_name(changes.pop("name"))
    fields = ("external_id", "first_name", "last_name", "source", "is_active")
    row = {"id": person_id, **merge_patch(current, changes, fields)}
    await repo.write(conn, tenant_id, queries.commerces.update_people, [row])
    return await _person_out(conn, tenant_id, commerce_id, person_id)


async def remove_person(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID
) -> None:
    await update_person(conn, tenant_id, commerce_id, person_id, PersonUpdate(is_active=False))


async def add_role(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID, role: str
) -> Person:
    await _person(conn, tenant_id, commerce_id, person_id)
    await repo.write(
        conn, tenant_id, queries.commerces.add_roles, [{"commerce_user_id": person_id, "role": role}]
    )
    return await _person_out(conn, tenant_id, commerce_id, person_id)


async def remove_role(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID, role: str
) -> None:
    await _person(conn, tenant_id, commerce_id, person_id)
    removed = await repo.write(
        conn, tenant_id, queries.commerces.remove_roles, [{"commerce_user_id": person_id, "role": role}]
    )
    if not removed:
        raise NotFound("Role not held by this commerce user")


# ---- contacts ---------------------------------------------------------------------------------------
def _check_contact(contact_type: str, value: str) -> None:
    problem = contact_problem(contact_type, value)
    if problem:
        raise BadRequest.field("value", problem)


async def _clear_contact_primaries(
    conn: Connection, tenant_id: uuid.UUID, person_id: uuid.UUID, contact_type: str, keep: uuid.UUID
) -> None:
    rows = [{"commerce_user_id": person_id, "contact_type": contact_type, "id": keep}]
    await repo.write(conn, tenant_id, queries.commerces.clear_contact_primaries, rows)


async def add_contact(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, person_id: uuid.UUID, data: ContactCreate
) -> Contact:
    """A new contact; a removed contact with the same type and value is reactivated."""
    _check_contact(data.contact_type, data.value)
    await _person(conn, tenant_id, commerce_id, person_id)
    existing = await queries.commerces.find_contact(
        conn, tenant_id=tenant_id, person_id=person_id, contact_type=data.contact_type, value=data.value
    )
    if existing is not None and existing["is_active"]:
        raise Conflict("contact already exists")
    row_id = existing["id"] if existing is not None else uuid.uuid4()
    if data.is_primary:
        await _clear_contact_primaries(conn, tenant_id, person_id, data.contact_type, row_id)
    row = {"id": row_id, "commerce_user_id": person_id, "is_active": True, **msgspec.structs.asdict(data)}
    (written,) = await repo.write(
        conn,
        tenant_id,
        queries.commerces.update_contacts if existing else queries.commerces.insert_contacts,
        [row],
    )
    return repo.to_contact(written)


async def _contact(
    conn: Connection, tenant_id: uuid.UUID, person_id: uuid.UUID, contact_id: uuid.UUID
) -> Any:
    query = queries.commerces.get_contact
    return await fetch_one(query, "Contact", conn, tenant_id=tenant_id, person_id=person_id, id=contact_id)


async def update_contact(
    conn: Connection,
    tenant_id: uuid.UUID,
    commerce_id: uuid.UUID,
    person_id: uuid.UUID,
    contact_id: uuid.UUID,
    data: ContactUpdate,
) -> Contact:
    await _person(conn, tenant_id, commerce_id, person_id)
    changes = present(data)
    row = {**_jsonable(dict(await _contact(conn, tenant_id, person_id, contact_id))), **changes}
    if not row["is_active"] and "is_primary" not in changes:
        row["is_primary"] = False
    _check_contact(row["contact_type"], row["value"])
    if row["is_primary"] and not row["is_active"]:
        raise BadRequest.field("is_primary", "an inactive contact cannot be primary")
    if row["is_primary"]:
        await _clear_contact_primaries(conn, tenant_id, person_id, row["contact_type"], contact_id)
    (written,) = await repo.write(conn, tenant_id, queries.commerces.update_contacts, [row])
    return repo.to_contact(written)


async def remove_contact(
    conn: Connection,
    tenant_id: uuid.UUID,
    commerce_id: uuid.UUID,
    person_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> None:
    await update_contact(conn, tenant_id, commerce_id, person_id, contact_id, ContactUpdate(is_active=False))
