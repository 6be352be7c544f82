"""Typed access to commerces, addresses, people, roles and contacts: the only module of the domain that
names ``queries.commerces``. Every statement runs in the transaction's tenant and names it; bulk writes
take a JSON array of whole rows (one statement per table, whatever the row count)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from app.commerces.schemas import Address, Commerce, CommerceDetail, Contact, Person, RoleOut
from app.db import Tx, fetch_one, json_param, paginate, queries, tenant_lock
from app.structs import Page, Pagination, decode_metadata, from_row, join_name

__all__ = (
    "active_commerce_id",
    "add_roles",
    "addresses_by_commerce",
    "clear_address_primaries",
    "clear_contact_primaries",
    "commerce_detail",
    "contacts_by_person",
    "deactivate_commerce",
    "find_contact",
    "get_address",
    "get_commerce",
    "get_contact",
    "get_person",
    "insert_addresses",
    "insert_contacts",
    "insert_people",
    "list_commerces",
    "lock_syncs",
    "people_by_commerce",
    "remove_roles",
    "tax_ids_taken",
    "to_address",
    "to_commerce",
    "to_contact",
    "to_person",
    "update_addresses",
    "update_commerce",
    "update_contacts",
    "update_people",
    "upsert_commerces",
)

Rows = list[dict[str, Any]]


def to_commerce(row: asyncpg.Record) -> Commerce:
    return from_row(Commerce, row, metadata=decode_metadata(row["metadata"]))


def to_address(row: asyncpg.Record) -> Address:
    return from_row(Address, row)


def to_contact(row: asyncpg.Record) -> Contact:
    return from_row(Contact, row, type=row["contact_type"])


def to_person(row: asyncpg.Record, contacts: list[asyncpg.Record]) -> Person:
    return from_row(
        Person,
        row,
        name=join_name(row["first_name"], row["last_name"]),
        roles=[RoleOut(role=r) for r in row["roles"]],
        contacts=[to_contact(c) for c in contacts],
    )


async def lock_syncs(tx: Tx) -> None:
    """Commerce syncs (and single creates) of one tenant run one at a time."""
    await tenant_lock(tx.conn, tx.tenant_id, "commerce-sync")


# ---- commerces --------------------------------------------------------------------------------------
async def list_commerces(tx: Tx, page: Pagination, **filters: Any) -> Page[Commerce]:
    return await paginate(
        tx.conn,
        page,
        queries.commerces.list_commerces,
        queries.commerces.count_commerces,
        to_commerce,
        tenant_id=tx.tenant_id,
        **filters,
    )


async def get_commerce(tx: Tx, commerce_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record:
    query = queries.commerces.lock_commerce if lock else queries.commerces.get_commerce
    return await fetch_one(query, "Commerce", tx.conn, tenant_id=tx.tenant_id, id=commerce_id)


async def commerce_detail(tx: Tx, commerce_id: uuid.UUID) -> CommerceDetail:
    """The commerce with its addresses and people (roles, contacts): four indexed reads."""
    row = await get_commerce(tx, commerce_id)
    ids = [commerce_id]
    addresses = [
        to_address(r)
        async for r in queries.commerces.addresses_of(tx.conn, tenant_id=tx.tenant_id, commerce_ids=ids)
    ]
    people = [r async for r in queries.commerces.people_of(tx.conn, tenant_id=tx.tenant_id, commerce_ids=ids)]
    contacts = await contacts_by_person(tx, [p["id"] for p in people])
    return from_row(
        CommerceDetail,
        row,
        metadata=decode_metadata(row["metadata"]),
        addresses=addresses,
        users=[to_person(p, contacts[p["id"]]) for p in people],
    )


async def active_commerce_id(tx: Tx, external_id: str) -> uuid.UUID | None:
    """The id of the active commerce with this external_id, if any."""
    found: uuid.UUID | None = await queries.commerces.active_commerce_id(
        tx.conn, tenant_id=tx.tenant_id, external_id=external_id
    )
    return found


async def update_commerce(tx: Tx, commerce_id: uuid.UUID, **values: Any) -> Commerce:
    """Write the commerce's whole set of PATCHable fields (``values``, merged by the caller)."""
    row = await queries.commerces.update_commerce(tx.conn, tenant_id=tx.tenant_id, id=commerce_id, **values)
    return to_commerce(row)


async def deactivate_commerce(tx: Tx, commerce_id: uuid.UUID) -> bool:
    """False when there is no such commerce."""
    return (
        await queries.commerces.deactivate_commerce(tx.conn, tenant_id=tx.tenant_id, id=commerce_id)
        is not None
    )


async def tax_ids_taken(tx: Tx, items: Rows) -> list[asyncpg.Record]:
    """Of ``items`` ({ord, external_id, tax_id}), those whose tax_id another commerce holds."""
    query = queries.commerces.tax_id_taken
    return [r async for r in query(tx.conn, tenant_id=tx.tenant_id, items=json_param(items))]


async def upsert_commerces(tx: Tx, items: Rows) -> list[asyncpg.Record]:
    """Insert or update the commerces of a sync by external_id: (id, external_id, created, changed) each."""
    return [
        r
        async for r in queries.commerces.upsert_commerces(
            tx.conn, tenant_id=tx.tenant_id, items=json_param(items)
        )
    ]


# ---- nested rows: reads -----------------------------------------------------------------------------
async def _grouped(rows: AsyncIterator[asyncpg.Record], key: str) -> dict[uuid.UUID, list[asyncpg.Record]]:
    out: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    async for r in rows:
        out[r[key]].append(r)
    return out


async def addresses_by_commerce(
    tx: Tx, commerce_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[asyncpg.Record]]:
    if not commerce_ids:
        return defaultdict(list)
    rows = queries.commerces.addresses_of(tx.conn, tenant_id=tx.tenant_id, commerce_ids=commerce_ids)
    return await _grouped(rows, "commerce_id")


async def people_by_commerce(tx: Tx, commerce_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """People with their roles (``roles`` column), grouped by commerce."""
    if not commerce_ids:
        return defaultdict(list)
    rows = queries.commerces.people_of(tx.conn, tenant_id=tx.tenant_id, commerce_ids=commerce_ids)
    return await _grouped(rows, "commerce_id")


async def contacts_by_person(tx: Tx, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
    if not person_ids:
        return defaultdict(list)
    rows = queries.commerces.contacts_of(tx.conn, tenant_id=tx.tenant_id, person_ids=person_ids)
    return await _grouped(rows, "commerce_user_id")


async def get_address(tx: Tx, commerce_id: uuid.UUID, address_id: uuid.UUID) -> asyncpg.Record:
    query = queries.commerces.get_address
    return await fetch_one(
        query, "Address", tx.conn, tenant_id=tx.tenant_id, commerce_id=commerce_id, id=address_id
    )


async def get_person(tx: Tx, commerce_id: uuid.UUID, person_id: uuid.UUID) -> asyncpg.Record:
    query = queries.commerces.get_person
    return await fetch_one(
        query, "Commerce user", tx.conn, tenant_id=tx.tenant_id, commerce_id=commerce_id, id=person_id
    )


async def get_contact(tx: Tx, person_id: uuid.UUID, contact_id: uuid.UUID) -> asyncpg.Record:
    query = queries.commerces.get_contact
    return await fetch_one(
        query, "Contact", tx.conn, tenant_id=tx.tenant_id, person_id=person_id, id=contact_id
    )


async def find_contact(tx: Tx, person_id: uuid.UUID, contact_type: str, value: str) -> asyncpg.Record | None:
    """The person's contact of this type and value, active or not, locked for the transaction."""
    return await queries.commerces.find_contact(
        tx.conn, tenant_id=tx.tenant_id, person_id=person_id, contact_type=contact_type, value=value
    )


# ---- nested rows: bulk writes (one statement over every row; nothing to do for none) ----------------
async def _write(
    tx: Tx, query: Callable[..., AsyncIterator[asyncpg.Record]], rows: Rows
) -> list[asyncpg.Record]:
    """Run one bulk statement over ``rows``, given as one JSON array; returns the rows it returns."""
    if not rows:
        return []
    return [r async for r in query(tx.conn, tenant_id=tx.tenant_id, rows=json_param(rows))]


async def clear_address_primaries(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    """``rows``: {commerce_id, id}: every other primary address of the commerce stops being primary."""
    return await _write(tx, queries.commerces.clear_address_primaries, rows)


async def insert_addresses(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    return await _write(tx, queries.commerces.insert_addresses, rows)


async def update_addresses(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    return await _write(tx, queries.commerces.update_addresses, rows)


async def insert_people(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    return await _write(tx, queries.commerces.insert_people, rows)


async def update_people(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    return await _write(tx, queries.commerces.update_people, rows)


async def add_roles(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    """``rows``: {commerce_user_id, role}; a role already held is left as it is."""
    return await _write(tx, queries.commerces.add_roles, rows)


async def remove_roles(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    """``rows``: {commerce_user_id, role}; returns the rows removed (none for a role not held)."""
    return await _write(tx, queries.commerces.remove_roles, rows)


async def clear_contact_primaries(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    """``rows``: {commerce_user_id, contact_type, id}: every other primary contact of that type stops
    being primary."""
    return await _write(tx, queries.commerces.clear_contact_primaries, rows)


async def insert_contacts(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    return await _write(tx, queries.commerces.insert_contacts, rows)


async def update_contacts(tx: Tx, rows: Rows) -> list[asyncpg.Record]:
    return await _write(tx, queries.commerces.update_contacts, rows)
