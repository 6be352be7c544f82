"""Typed access to commerces, addresses, people, roles and contacts. Every statement names the tenant;
bulk writes take a JSON array of whole rows (one statement per table, whatever the row count)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from app.commerces.schemas import Address, Commerce, CommerceDetail, Contact, Person, RoleOut
from app.db import Connection, fetch_one, json_param, paginate, queries
from app.structs import Page, Pagination, decode_metadata, from_row, join_name

__all__ = (
    "commerce_detail",
    "get_commerce",
    "list_commerces",
    "to_address",
    "to_commerce",
    "to_contact",
    "to_person",
)


def to_commerce(row: Any) -> Commerce:
    return from_row(Commerce, row, metadata=decode_metadata(row["metadata"]))


def to_address(row: Any) -> Address:
    return from_row(Address, row)


def to_contact(row: Any) -> Contact:
    return from_row(Contact, row, type=row["contact_type"])


def to_person(row: Any, contacts: list[Any]) -> Person:
    return from_row(
        Person,
        row,
        name=join_name(row["first_name"], row["last_name"]),
        roles=[RoleOut(role=r) for r in row["roles"]],
        contacts=[to_contact(c) for c in contacts],
    )


async def list_commerces(
    conn: Connection, tenant_id: uuid.UUID, page: Pagination, **filters: Any
) -> Page[Commerce]:
    return await paginate(
        conn,
        page,
        queries.commerces.list_commerces,
        queries.commerces.count_commerces,
        to_commerce,
        tenant_id=tenant_id,
        **filters,
    )


async def get_commerce(
    conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID, *, lock: bool = False
) -> Any:
    query = queries.commerces.lock_commerce if lock else queries.commerces.get_commerce
    return await fetch_one(query, "Commerce", conn, tenant_id=tenant_id, id=commerce_id)


async def commerce_detail(conn: Connection, tenant_id: uuid.UUID, commerce_id: uuid.UUID) -> CommerceDetail:
    """The commerce with its addresses and people (roles, contacts): four indexed reads."""
    row = await get_commerce(conn, tenant_id, commerce_id)
    ids = [commerce_id]
    addresses = [
        to_address(r)
        async for r in queries.commerces.addresses_of(conn, tenant_id=tenant_id, commerce_ids=ids)
    ]
    people = [r async for r in queries.commerces.people_of(conn, tenant_id=tenant_id, commerce_ids=ids)]
    contacts = await contacts_by_person(conn, tenant_id, [p["id"] for p in people])
    return from_row(
        CommerceDetail,
        row,
        metadata=decode_metadata(row["metadata"]),
        addresses=addresses,
        users=[to_person(p, contacts[p["id"]]) for p in people],
    )


async def _grouped(rows: AsyncIterator[Any], key: str) -> dict[uuid.UUID, list[Any]]:
    out: dict[uuid.UUID, list[Any]] = defaultdict(list)
    async for r in rows:
        out[r[key]].append(r)
    return out


async def addresses_by_commerce(
    conn: Connection, tenant_id: uuid.UUID, commerce_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    if not commerce_ids:
        return defaultdict(list)
    rows = queries.commerces.addresses_of(conn, tenant_id=tenant_id, commerce_ids=commerce_ids)
    return await _grouped(rows, "commerce_id")


async def people_by_commerce(
    conn: Connection, tenant_id: uuid.UUID, commerce_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    """People with their roles (``roles`` column), grouped by commerce."""
    if not commerce_ids:
        return defaultdict(list)
    rows = queries.commerces.people_of(conn, tenant_id=tenant_id, commerce_ids=commerce_ids)
    return await _grouped(rows, "commerce_id")


async def contacts_by_person(
    conn: Connection, tenant_id: uuid.UUID, person_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    if not person_ids:
        return defaultdict(list)
    rows = queries.commerces.contacts_of(conn, tenant_id=tenant_id, person_ids=person_ids)
    return await _grouped(rows, "commerce_user_id")


async def write(
    conn: Connection,
    tenant_id: uuid.UUID,
    query: Callable[..., AsyncIterator[Any]],
    rows: list[dict[str, Any]],
) -> list[Any]:
    """Run one bulk statement (``queries.commerces.insert_addresses``, ...) over ``rows``, given as one JSON
    array; nothing to do for an empty list. Returns the rows the statement returns."""
    if not rows:
        return []
    return [r async for r in query(conn, tenant_id=tenant_id, rows=json_param(rows))]
