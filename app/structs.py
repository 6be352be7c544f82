"""House Structs: input (snake_case or camelCase as the page documents, unknown fields rejected),
output (camelCase), pagination, and shared constraints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec

__all__ = (
    "CamelInput",
    "Email",
    "Message",
    "Name",
    "Output",
    "Page",
    "PageMeta",
    "Pagination",
    "Password",
    "SnakeInput",
    "Timestamp",
    "from_row",
    "iso_ms",
    "provide_pagination",
)

T = TypeVar("T")

S = TypeVar("S", bound=msgspec.Struct)

# Output timestamps: UTC, milliseconds, "Z" (CONTRACT.md §1).
Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


def iso_ms(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def from_row(struct: type[S], row: Mapping[str, Any], **overrides: Any) -> S:
    """A database row as an output Struct: columns matched by field name, datetimes as ``iso_ms``."""
    fields = struct.__struct_fields__
    data = {
        key: iso_ms(value) if isinstance(value, datetime) else value
        for key, value in row.items()
        if key in fields
    }
    data.update(overrides)
    return struct(**data)


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
OptionalName = Annotated[str, msgspec.Meta(max_length=255)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class SnakeInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Request bodies documented in snake_case. Server-owned fields never appear here."""


class CamelInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Request bodies documented in camelCase (auth, tenant/setup, api-keys, route operators)."""


class Output(msgspec.Struct, kw_only=True, rename="camel"):
    """Every response: camelCase keys."""


class Message(Output):
    message: str


class PageMeta(Output):
    page: int
    limit: int
    total: int
    total_pages: int


class Page(Output, Generic[T]):
    data: list[T]
    meta: PageMeta


class Pagination(msgspec.Struct, frozen=True):
    """``page`` + ``per_page`` (alias ``limit``), validated once; max 100 (above -> 400)."""

    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def wrap(self, items: list[T], total: int) -> Page[T]:
        pages = math.ceil(total / self.limit) if total else 0
        return Page(
            data=items,
            meta=PageMeta(page=self.page, limit=self.limit, total=total, total_pages=pages),
        )


def provide_pagination(default_limit: int) -> Any:
    """A dependency reading ``page`` and ``per_page`` (alias ``limit``); above 100 -> 400."""
    from litestar.params import Parameter

    def pagination(
        page: Annotated[int, Parameter(query="page", ge=1, le=1_000_000)] = 1,
        per_page: Annotated[int | None, Parameter(query="per_page", ge=1, le=100)] = None,
        limit: Annotated[int | None, Parameter(query="limit", ge=1, le=100)] = None,
    ) -> Pagination:
        return Pagination(page=page, limit=per_page or limit or default_limit)

    return pagination
