"""Operators: the field staff (salesmen, activators, call-center agents) who carry out activities."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.structs import Email, ExternalId, Metadata, Name, Output, SnakeInput, Timestamp

__all__ = (
    "MAX_SYNC_ITEMS",
    "Operator",
    "OperatorCreate",
    "OperatorSync",
    "OperatorSyncItem",
    "OperatorUpdate",
)

MAX_SYNC_ITEMS = 1000
OperatorType = Literal["SALESMAN", "ACTIVATOR", "CALLCENTER"]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class OperatorCreate(SnakeInput):
    type: OperatorType
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    external_id: ExternalId | None = None
    is_placeholder: bool = False
    metadata: Metadata = msgspec.field(default_factory=dict)


class OperatorSyncItem(SnakeInput):
    """Matched by (`type`, `external_id`); name, email and phone are replaced, metadata merged."""

    external_id: ExternalId
    type: OperatorType
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class OperatorSync(SnakeInput):
    items: Annotated[list[OperatorSyncItem], msgspec.Meta(min_length=1, max_length=MAX_SYNC_ITEMS)]


class OperatorUpdate(SnakeInput):
    name: Name | UnsetType = UNSET
    email: Email | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class Operator(Output):
    """`name` (as the create page shows) and `firstName`/`lastName` (as list and get show)."""

    id: uuid.UUID
    name: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    type: str
    external_id: str | None
    is_active: bool
    is_placeholder: bool
    metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp
