"""Commerce sync: validate a whole batch, then upsert it set-based in one transaction.

The commerces themselves are one ``INSERT ... ON CONFLICT`` over the batch. Their nested rows are read
once per table for the whole batch, diffed here against the items, and written with one statement per
table and kind of change, so a call costs about fifteen round trips whether it carries one item or
1,000, and a repeated payload writes nothing.

Matching (CONTRACT.md §4): commerces by ``external_id``; addresses by ``source_ref``, then a primary
address by the current primary, then an address without ``source_ref`` by identical content; people by
``external_id`` within the commerce; contacts by (``contact_type``, ``value``). Rows absent from a sync
are left as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.commerces import repo
from app.commerces.schemas import CommerceCreate, SyncAddress, SyncContact, SyncPerson, contact_problem
from app.db import Tx
from app.errors import BadRequest, Conflict
from app.structs import SyncResult, first_duplicate, split_name

__all__ = ("apply", "check_item", "check_items")

INTEGRATION = "INTEGRATION"
# What an address in a sync sets; CONTENT is what identifies an address that has no source_ref.
ADDRESS_FIELDS = (
    "address_alias",
    "street",
    "street_number",
    "unit",
    "city",
    "commune",
    "region",
    "country_code",
    "formatted_address",
    "latitude",
    "longitude",
)


# ---- validation (400, naming the item and field) ---------------------------------------------------
def _bad(path: str, message: str) -> BadRequest:
    return BadRequest.field(path, message)


def check_item(item: CommerceCreate, prefix: str = "") -> None:
    """The rules a single item must meet beyond its types."""
    if sum(a.is_primary for a in item.addresses) > 1:
        second = [i for i, a in enumerate(item.addresses) if a.is_primary][1]
        raise _bad(f"{prefix}addresses[{second}].is_primary", "only one address can be primary")
    index = first_duplicate(a.source_ref for a in item.addresses)
    if index is not None:
        raise _bad(f"{prefix}addresses[{index}].source_ref", "appears twice in this commerce")
    index = first_duplicate(u.external_id for u in item.users)
    if index is not None:
        raise _bad(f"{prefix}users[{index}].external_id", "appears twice in this commerce")
    for u_index, person in enumerate(item.users):
        here = f"{prefix}users[{u_index}].contacts"
        for c_index, contact in enumerate(person.contacts):
            problem = contact_problem(contact.contact_type, contact.value)
            if problem:
                raise _bad(f"{here}[{c_index}].value", problem)
        index = first_duplicate((c.contact_type, c.value) for c in person.contacts)
        if index is not None:
            raise _bad(f"{here}[{index}].value", "appears twice for this person")
        index = first_duplicate(c.contact_type if c.is_primary else None for c in person.contacts)
        if index is not None:
            raise _bad(f"{here}[{index}].is_primary", "only one primary contact per type")


def check_items(items: list[CommerceCreate]) -> None:
    index = first_duplicate(i.external_id for i in items)
    if index is not None:
        raise _bad(f"items[{index}].external_id", "appears twice in this sync")
    index = first_duplicate(i.tax_id for i in items)
    if index is not None:
        raise _bad(f"items[{index}].tax_id", "appears twice in this sync")
    for index, item in enumerate(items):
        check_item(item, f"items[{index}].")


# ---- the plan: every write of a sync, grouped per statement ----------------------------------------
@dataclass
class Plan:
    touched: set[uuid.UUID] = field(default_factory=set)  # commerces with any change
    address_clear: list[dict[str, Any]] = field(default_factory=list)  # {commerce_id, id kept primary}
    address_update: list[dict[str, Any]] = field(default_factory=list)
    address_insert: list[dict[str, Any]] = field(default_factory=list)
    person_update: list[dict[str, Any]] = field(default_factory=list)
    person_insert: list[dict[str, Any]] = field(default_factory=list)
    role_remove: list[dict[str, Any]] = field(default_factory=list)
    role_add: list[dict[str, Any]] = field(default_factory=list)
    contact_clear: list[dict[str, Any]] = field(default_factory=list)  # {commerce_user_id, contact_type, id}
    contact_update: list[dict[str, Any]] = field(default_factory=list)
    contact_insert: list[dict[str, Any]] = field(default_factory=list)

    async def execute(self, tx: Tx) -> None:
        # Primaries are cleared before any row becomes primary: the one-primary indexes are immediate.
        for write, rows in (
            (repo.clear_address_primaries, self.address_clear),
            (repo.update_addresses, self.address_update),
            (repo.insert_addresses, self.address_insert),
            (repo.update_people, self.person_update),
            (repo.insert_people, self.person_insert),
            (repo.remove_roles, self.role_remove),
            (repo.add_roles, self.role_add),
            (repo.clear_contact_primaries, self.contact_clear),
            (repo.update_contacts, self.contact_update),
            (repo.insert_contacts, self.contact_insert),
        ):
            await write(tx, rows)


def _changed(row: Any, values: dict[str, Any]) -> bool:
    return any(row[k] != v for k, v in values.items())


def _match_address(incoming: SyncAddress, current: list[Any], used: set[uuid.UUID]) -> Any | None:
    free = [a for a in current if a["id"] not in used]
    if incoming.source_ref is not None:
        for a in free:
            if a["source_ref"] == incoming.source_ref:
                return a
    if incoming.is_primary:
        for a in free:
            if a["is_primary"] and (a["source_ref"] is None or incoming.source_ref is None):
                return a
    if incoming.source_ref is None:
        for a in free:
            if a["source_ref"] is None and all(a[k] == getattr(incoming, k) for k in ADDRESS_FIELDS):
                return a
    return None


def plan_addresses(
    plan: Plan, commerce_id: uuid.UUID, incoming: list[SyncAddress], current: list[Any]
) -> None:
    used: set[uuid.UUID] = set()
    primary_id: uuid.UUID | None = None
    for address in incoming:
        values = {k: getattr(address, k) for k in ADDRESS_FIELDS}
        values["is_primary"] = address.is_primary
        match = _match_address(address, current, used)
        if match is None:
            row_id = uuid.uuid4()
            plan.address_insert.append(
                {
                    "id": row_id,
                    "commerce_id": commerce_id,
                    "source": INTEGRATION,
                    "source_ref": address.source_ref,
                    **values,
                }
            )
            plan.touched.add(commerce_id)
        else:
            row_id = match["id"]
            used.add(row_id)
            values["source_ref"] = address.source_ref or match["source_ref"]
            values["is_active"] = True
            if _changed(match, values):
                plan.address_update.append({"id": row_id, **values})
                plan.touched.add(commerce_id)
        if address.is_primary:
            primary_id = row_id
    if primary_id is not None and any(a["is_primary"] and a["id"] != primary_id for a in current):
        plan.address_clear.append({"commerce_id": commerce_id, "id": primary_id})


def plan_people(
    plan: Plan, commerce_id: uuid.UUID, incoming: list[SyncPerson], current: list[Any]
) -> list[tuple[uuid.UUID, SyncPerson, bool]]:
    """Plan the people's own rows and roles; returns (person id, item, existed) for the contact pass."""
    by_external_id = {p["external_id"]: p for p in current if p["external_id"] is not None}
    out: list[tuple[uuid.UUID, SyncPerson, bool]] = []
    for person in incoming:
        match = by_external_id.get(person.external_id)
        wanted_roles = set(person.roles) if person.roles is not None else None
        if match is None:
            person_id = uuid.uuid4()
            first, last = split_name(person.name) if person.name else ("", "")
            plan.person_insert.append(
                {
                    "id": person_id,
                    "commerce_id": commerce_id,
                    "external_id": person.external_id,
                    "first_name": first,
                    "last_name": last,
                    "source": INTEGRATION,
                }
            )
            plan.role_add.extend(
                {"commerce_user_id": person_id, "role": r} for r in sorted(wanted_roles or ())
            )
            plan.touched.add(commerce_id)
            out.append((person_id, person, False))
            continue
        person_id = match["id"]
        first, last = split_name(person.name) if person.name else (match["first_name"], match["last_name"])
        values = {"first_name": first, "last_name": last, "is_active": True}
        if _changed(match, values):
            plan.person_update.append(
                {"id": person_id, "external_id": match["external_id"], "source": match["source"], **values}
            )
            plan.touched.add(commerce_id)
        if wanted_roles is not None:
            held = set(match["roles"])
            plan.role_add.extend(
                {"commerce_user_id": person_id, "role": r} for r in sorted(wanted_roles - held)
            )
            plan.role_remove.extend(
                {"commerce_user_id": person_id, "role": r} for r in sorted(held - wanted_roles)
            )
            if wanted_roles != held:
                plan.touched.add(commerce_id)
        out.append((person_id, person, True))
    return out


def plan_contacts(
    plan: Plan, commerce_id: uuid.UUID, person_id: uuid.UUID, incoming: list[SyncContact], current: list[Any]
) -> None:
    by_key = {(c["contact_type"], c["value"]): c for c in current}
    primary: dict[str, uuid.UUID] = {}
    for contact in incoming:
        match = by_key.get((contact.contact_type, contact.value))
        if match is None:
            row_id = uuid.uuid4()
            plan.contact_insert.append(
                {
                    "id": row_id,
                    "commerce_user_id": person_id,
                    "contact_type": contact.contact_type,
                    "value": contact.value,
                    "source": INTEGRATION,
                    "is_primary": contact.is_primary,
                }
            )
            plan.touched.add(commerce_id)
        else:
            row_id = match["id"]
            values = {"is_primary": contact.is_primary, "is_active": True}
            if _changed(match, values):
                plan.contact_update.append(
                    {
                        "id": row_id,
                        "contact_type": match["contact_type"],
                        "value": match["value"],
                        "source": match["source"],
                        **values,
                    }
                )
                plan.touched.add(commerce_id)
        if contact.is_primary:
            primary[contact.contact_type] = row_id
    plan.contact_clear.extend(
        {"commerce_user_id": person_id, "contact_type": kind, "id": keep}
        for kind, keep in primary.items()
        if any(c["is_primary"] and c["contact_type"] == kind and c["id"] != keep for c in current)
    )


# ---- running a sync ---------------------------------------------------------------------------------
async def apply(
    tx: Tx, items: list[CommerceCreate], *, batch: bool = True
) -> tuple[SyncResult, dict[str, uuid.UUID]]:
    """Upsert validated ``items`` (the caller holds ``repo.lock_syncs``); returns the counts and each
    external_id's commerce id. ``batch`` names item indexes in errors."""
    taxed = [
        {"ord": i, "external_id": it.external_id, "tax_id": it.tax_id}
        for i, it in enumerate(items)
        if it.tax_id
    ]
    if taxed:
        taken = await repo.tax_ids_taken(tx, taxed)
        if taken:
            where = f"items[{taken[0]['ord']}].tax_id: " if batch else ""
            raise Conflict(f"{where}tax_id already exists")
    rows = await repo.upsert_commerces(
        tx,
        [
            {
                "external_id": it.external_id,
                "name": it.name,
                "global_external_id": it.global_external_id,
                "tax_id": it.tax_id,
                "is_placeholder": it.is_placeholder,
                "metadata": it.metadata,
            }
            for it in items
        ],
    )
    ids = {r["external_id"]: r["id"] for r in rows}
    created = {r["id"] for r in rows if r["created"]}
    plan = Plan(touched={r["id"] for r in rows if r["changed"]})
    work = [(ids[item.external_id], item) for item in items]

    addresses = await repo.addresses_by_commerce(tx, [c for c, it in work if it.addresses])
    people = await repo.people_by_commerce(tx, [c for c, it in work if it.users])
    planned_people: list[tuple[uuid.UUID, uuid.UUID, SyncPerson, bool]] = []
    for commerce_id, item in work:
        if item.addresses:
            plan_addresses(plan, commerce_id, item.addresses, addresses.get(commerce_id, []))
        if item.users:
            for person_id, person, existed in plan_people(
                plan, commerce_id, item.users, people.get(commerce_id, [])
            ):
                planned_people.append((commerce_id, person_id, person, existed))
    contacts = await repo.contacts_by_person(
        tx, [p for _, p, person, existed in planned_people if existed and person.contacts]
    )
    for commerce_id, person_id, person, _ in planned_people:
        if person.contacts:
            plan_contacts(plan, commerce_id, person_id, person.contacts, contacts.get(person_id, []))
    await plan.execute(tx)
    result = SyncResult(created=len(created), updated=len(plan.touched - created), total=len(items))
    return result, ids
