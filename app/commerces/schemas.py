"""Commerces and what hangs off them: addresses, people (commerce users), their roles and contacts.
Request bodies are snake_case as the docs pages show; PATCH bodies leave unsent fields ``UNSET``."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.structs import (
    EMAIL_PATTERN,
    ExternalId,
    Metadata,
    Name,
    Output,
    SnakeInput,
    Text255,
    Timestamp,
    whole,
)

__all__ = (
    "MAX_SYNC_ITEMS",
    "Address",
    "AddressCreate",
    "AddressUpdate",
    "Commerce",
    "CommerceCreate",
    "CommerceDetail",
    "CommerceRole",
    "CommerceSync",
    "CommerceUpdate",
    "Contact",
    "ContactCreate",
    "ContactUpdate",
    "Person",
    "PersonCreate",
    "PersonUpdate",
    "RoleAdd",
    "SyncAddress",
    "SyncContact",
    "SyncPerson",
    "contact_problem",
)

MAX_SYNC_ITEMS = 1000

Source = Literal["RETEN", "INTEGRATION"]
CommerceRole = Literal["OWNER", "ORDERS", "FINANCE", "ATTENTION", "ADMIN", "COMMERCE_REP", "OTHER"]
ContactType = Literal["PHONE", "EMAIL", "WHATSAPP", "OTHER"]
Short = Annotated[str, msgspec.Meta(max_length=64)]
CountryCode = Annotated[str, msgspec.Meta(min_length=2, max_length=3)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
ContactValue = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Roles = Annotated[list[CommerceRole], msgspec.Meta(max_length=7)]

E164_PATTERN = whole(r"\+[1-9][0-9]{6,14}")
# The form of a contact's value, by its type: enforced by contact_problem, stated in /schema by the
# contact Structs' json_schema_rules (the same patterns).
_VALUE_FORMS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("EMAIL",), EMAIL_PATTERN, "must be an email address"),
    (("PHONE", "WHATSAPP"), E164_PATTERN, "must be an E.164 phone number such as +56912345678"),
)
_CONTACT_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"contact_type": {"enum": list(types)}}, "required": ["contact_type"]},
            "then": {"properties": {"value": {"pattern": pattern}}},
        }
        for types, pattern, _ in _VALUE_FORMS
    ]
}


def _at_most_one(**match: Any) -> dict[str, Any]:
    """An array rule: at most one item has the fields ``match`` (sync.py refuses a second one)."""
    contains = {"properties": {k: {"const": v} for k, v in match.items()}, "required": list(match)}
    return {"contains": contains, "minContains": 0, "maxContains": 1}


def contact_problem(contact_type: str, value: str) -> str | None:
    """Per-type validation of a contact value; the problem, or None when the value is fine."""
    for types, pattern, problem in _VALUE_FORMS:
        if contact_type in types and not re.search(pattern, value):
            return problem
    return None


# ---- inputs -----------------------------------------------------------------------------------------
class SyncAddress(SnakeInput):
    """An address inside a sync item (stored with source INTEGRATION)."""

    source_ref: ExternalId | None = None
    address_alias: Text255 | None = None
    street: Text255 | None = None
    street_number: Short | None = None
    unit: Short | None = None
    city: Text255 | None = None
    commune: Text255 | None = None
    region: Text255 | None = None
    country_code: CountryCode | None = None
    formatted_address: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    is_primary: bool = False


class AddressCreate(SyncAddress, kw_only=True):
    source: Source


class AddressUpdate(SnakeInput):
    """All optional; `source` and `source_ref` cannot be changed. `is_active` is an addition."""

    address_alias: Text255 | UnsetType | None = UNSET
    street: Text255 | UnsetType | None = UNSET
    street_number: Short | UnsetType | None = UNSET
    unit: Short | UnsetType | None = UNSET
    city: Text255 | UnsetType | None = UNSET
    commune: Text255 | UnsetType | None = UNSET
    region: Text255 | UnsetType | None = UNSET
    country_code: CountryCode | UnsetType | None = UNSET
    formatted_address: Annotated[str, msgspec.Meta(max_length=1000)] | UnsetType | None = UNSET
    latitude: Latitude | UnsetType | None = UNSET
    longitude: Longitude | UnsetType | None = UNSET
    is_primary: bool | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class SyncContact(SnakeInput):
    json_schema_rules: ClassVar[dict[str, Any]] = _CONTACT_RULES

    contact_type: ContactType
    value: ContactValue
    is_primary: bool = False


class ContactCreate(SyncContact, kw_only=True):
    source: Source


class ContactUpdate(SnakeInput):
    """A value sent without its type follows the type stored (which /schema cannot know)."""

    json_schema_rules: ClassVar[dict[str, Any]] = _CONTACT_RULES

    contact_type: ContactType | UnsetType = UNSET
    value: ContactValue | UnsetType = UNSET
    is_primary: bool | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class SyncPerson(SnakeInput):
    """A person inside a sync item, matched within its commerce by `external_id`. `roles`, when sent,
    become the person's roles; contacts are matched by (`contact_type`, `value`)."""

    # One primary contact per type.
    json_schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [
            {"properties": {"contacts": _at_most_one(contact_type=kind, is_primary=True)}}
            for kind in ContactType.__args__  # type: ignore[attr-defined]
        ]
    }

    external_id: ExternalId
    name: Text255 | None = None
    roles: Roles | None = None
    contacts: Annotated[list[SyncContact], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)


class PersonCreate(SnakeInput):
    name: Text255 | None = None
    external_id: ExternalId | None = None
    source: Source | None = None
    roles: Roles = msgspec.field(default_factory=list)


class PersonUpdate(SnakeInput):
    name: Text255 | UnsetType = UNSET
    external_id: ExternalId | UnsetType | None = UNSET
    source: Source | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET


class RoleAdd(SnakeInput):
    role: CommerceRole


class CommerceCreate(SnakeInput):
    """One sync item (also the body of POST /api/commerces). Scalars are the commerce's values (an
    absent `tax_id` clears it); `metadata` is merged into what is stored."""

    # One primary address.
    json_schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [{"properties": {"addresses": _at_most_one(is_primary=True)}}]
    }

    external_id: ExternalId
    name: Name
    global_external_id: ExternalId | None = None
    tax_id: ExternalId | None = None
    is_placeholder: bool = False
    metadata: Metadata = msgspec.field(default_factory=dict)
    addresses: Annotated[list[SyncAddress], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    users: Annotated[list[SyncPerson], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)


class CommerceSync(SnakeInput):
    items: Annotated[list[CommerceCreate], msgspec.Meta(min_length=1, max_length=MAX_SYNC_ITEMS)]


class CommerceUpdate(SnakeInput):
    name: Name | UnsetType = UNSET
    tax_id: ExternalId | UnsetType | None = UNSET
    global_external_id: ExternalId | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


# ---- outputs ----------------------------------------------------------------------------------------
class Address(Output):
    id: uuid.UUID
    source: str
    source_ref: str | None
    address_alias: str | None
    street: str | None
    street_number: str | None
    unit: str | None
    city: str | None
    commune: str | None
    region: str | None
    country_code: str | None
    formatted_address: str | None
    latitude: float | None
    longitude: float | None
    is_primary: bool
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp


class Contact(Output):
    id: uuid.UUID
    type: str
    value: str
    source: str
    is_primary: bool
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp


class RoleOut(Output):
    role: str


class Person(Output):
    id: uuid.UUID
    external_id: str | None
    name: str
    first_name: str
    last_name: str
    source: str | None
    is_active: bool
    roles: list[RoleOut]
    contacts: list[Contact]
    created_at: Timestamp
    updated_at: Timestamp


class Commerce(Output):
    id: uuid.UUID
    name: str
    external_id: str
    global_external_id: str | None
    tax_id: str | None
    is_active: bool
    is_placeholder: bool
    metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp


class CommerceDetail(Commerce):
    addresses: list[Address]
    users: list[Person]
