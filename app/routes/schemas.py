"""Routes (an addition beyond the one documented page) and their operator links."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.structs import CamelInput, ExternalId, Metadata, Name, Output, SnakeInput, Timestamp

__all__ = ("Route", "RouteCreate", "RouteOperator", "RouteOperatorAssign", "RouteOperatorLink", "RouteUpdate")

LinkRole = Literal["LEAD", "MEMBER"]


class RouteCreate(SnakeInput):
    name: Name
    code: ExternalId | None = None
    external_id: ExternalId | None = None
    is_active: bool = True
    metadata: Metadata = msgspec.field(default_factory=dict)


class RouteUpdate(SnakeInput):
    name: Name | UnsetType = UNSET
    code: ExternalId | UnsetType | None = UNSET
    external_id: ExternalId | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class RouteOperatorAssign(CamelInput):
    """camelCase, as the assign-operator page documents."""

    operator_id: uuid.UUID
    role: LinkRole | None = None


class Route(Output):
    id: uuid.UUID
    name: str
    code: str | None
    external_id: str | None
    is_active: bool
    metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp


class RouteOperatorLink(Output):
    route_id: uuid.UUID
    operator_id: uuid.UUID
    role: str
    is_active: bool


class RouteOperator(RouteOperatorLink):
    """A link with the operator's name and type (addition: the list is not documented)."""

    name: str
    first_name: str
    last_name: str
    type: str
    email: str | None
    operator_is_active: bool
    created_at: Timestamp
    updated_at: Timestamp
