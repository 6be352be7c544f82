"""House Structs: input (snake_case or camelCase as the page documents, unknown fields rejected, decoded
strictly), output (camelCase), pagination, and shared constraints."""

from __future__ import annotations

import base64
import functools
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request

__all__ = (
    "EMAIL_PATTERN",
    "WHITESPACE",
    "CamelInput",
    "Email",
    "ExternalId",
    "Keyset",
    "Message",
    "Metadata",
    "Name",
    "Output",
    "Page",
    "PageMeta",
    "Pagination",
    "Password",
    "SnakeInput",
    "StrictRequest",
    "SyncResult",
    "Text255",
    "Timestamp",
    "any_case",
    "decode_body",
    "decode_cursor",
    "decode_metadata",
    "either_spelling",
    "encode_cursor",
    "first_duplicate",
    "from_row",
    "invalid_input",
    "iso_ms",
    "join_name",
    "json_param",
    "like_pattern",
    "merge_patch",
    "one_spelling",
    "present",
    "provide_pagination",
    "require_offset",
    "split_name",
    "whole",
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


def require_offset(**times: datetime | None) -> None:
    """Query-string times must carry an offset (CONTRACT.md §1): the framework parses them without the
    ``tz`` rule body Structs have. 400 naming the first one that does not."""
    from app.errors import BadRequest

    for name, value in times.items():
        if value is not None and value.tzinfo is None:
            raise BadRequest.field(name, "needs a UTC offset, e.g. 2025-01-16T09:00:00Z")


def either_spelling(name: str, snake: Any, camel: Any) -> Any:
    """The value of a body field documented in two spellings (two revisions of a page): either one, or
    ValueError naming the field when both were sent and differ."""
    if snake is not None and camel is not None and snake != camel:
        raise ValueError(f"{name}: both spellings were sent with different values")
    return snake if snake is not None else camel


def one_spelling(name: str, snake: Any, camel: Any) -> Any:
    """As ``either_spelling``, and required."""
    value = either_spelling(name, snake, camel)
    if value is None:
        raise ValueError(f"{name}: required")
    return value


def present(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sent (fields left ``UNSET`` are absent)."""
    return {k: v for k, v in msgspec.structs.asdict(struct).items() if v is not msgspec.UNSET}


def merge_patch(
    current: Mapping[str, Any], changes: Mapping[str, Any], fields: Iterable[str]
) -> dict[str, Any]:
    """A row's editable ``fields`` after a PATCH: sent values win, the rest are kept; ``metadata`` is merged
    (shallow) into the stored object and returned as JSON text for a jsonb parameter."""
    out: dict[str, Any] = {}
    for name in fields:
        if name == "metadata":
            merged = {**decode_metadata(current["metadata"]), **changes.get("metadata", {})}
            out[name] = json_param(merged)
        else:
            out[name] = changes[name] if name in changes else current[name]
    return out


def split_name(name: str) -> tuple[str, str]:
    """``name`` input -> (first, last), split on the first space (CONTRACT.md §4)."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def join_name(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def like_pattern(term: str | None) -> str | None:
    """A ``search`` term as an ILIKE pattern matching anywhere, with its wildcards taken literally."""
    if term is None or not term.strip():
        return None
    escaped = term.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_JSON = msgspec.json.Encoder()


def json_param(value: Any) -> str:
    """A value as a json/jsonb bind parameter (the codec passes text through, see db.init_connection)."""
    return _JSON.encode(value).decode()


def decode_metadata(value: str | None) -> dict[str, Any]:
    """jsonb arrives as text (see db.init_connection)."""
    return msgspec.json.decode(value) if value else {}


def first_duplicate(values: Iterable[Any]) -> int | None:
    """Index of the first value seen before (None values ignored), or None."""
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value is None:
            continue
        if value in seen:
            return index
        seen.add(value)
    return None


# Patterns are read by two regex dialects: msgspec checks them with Python's re.search, clients and
# fuzzers with JSON Schema's ECMA-262. They disagree on what \s is (Python adds \x1c-\x1f and \x85, ECMA
# adds \ufeff) and on $ (Python's also matches before a final newline). So whitespace is spelt out as both
# sets together, and a whole-value pattern ends with $(?!\n), which both read as the end of the value.
WHITESPACE = r"\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def whole(pattern: str) -> str:
    """``pattern`` matching the whole value, alike in both dialects."""
    return rf"^(?:{pattern})$(?!\n)"


EMAIL_PATTERN = whole(rf"[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\.[^@{WHITESPACE}]+")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=rf"[^{WHITESPACE}]")]  # not blank
Text255 = Annotated[str, msgspec.Meta(max_length=255)]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Metadata = Annotated[dict[str, Any], msgspec.Meta(description="Arbitrary JSON object")]
Search = Annotated[str, msgspec.Meta(max_length=255)]
OptionalName = Annotated[str, msgspec.Meta(max_length=255)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=255, pattern=EMAIL_PATTERN)]


def any_case(*words: str) -> str:
    """A whole-value pattern for ``words`` in any letter case, around them what ``str.strip()`` removes
    (roles and permissions are read ``.strip().upper()``): JSON Schema has no case-insensitive flag, so
    each letter is a class. Whitespace but U+FEFF, which Python does not strip."""
    pad = f"[{WHITESPACE.removesuffix(chr(92) + 'ufeff')}]*"
    spelt = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in w) for w in words)
    return whole(f"{pad}(?:{'|'.join(spelt)}){pad}")


class SnakeInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Request bodies documented in snake_case. Server-owned fields never appear here. Unknown fields are
    refused, and /schema says so (``additionalProperties: false``, app.openapi)."""


class CamelInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Request bodies documented in camelCase (auth, tenant/setup, api-keys, route operators)."""


@functools.cache
def _body_decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    # strict: a JSON value is taken only as the type the schema documents ("1" is not an integer, 0 is
    # not a boolean, a number is not a date-time), as /schema promises.
    return msgspec.json.Decoder(annotation, strict=True)


def decode_body(body: bytes, annotation: Any) -> Any:
    """A JSON request body as ``annotation`` (the handler's ``data`` type), strictly; 400 on anything
    else, naming the field. Bytes that are not JSON are a client error too: invalid UTF-8 inside a string
    (UnicodeDecodeError) and nesting deeper than the decoder goes (RecursionError) included."""
    from app.errors import BadRequest

    if b"\\u0000" in body and _holds_nul(_json(body)):
        # PostgreSQL text and jsonb cannot hold U+0000; refused here, whatever field it is in.
        raise BadRequest("A string contains U+0000, which cannot be stored")
    try:
        try:
            return _body_decoder(annotation).decode(body)
        except msgspec.ValidationError as exc:
            if "got `float`" not in str(exc):
                raise
            # JSON has one kind of number: 2.0 is the integer 2 (JSON Schema says so, and an encoder may
            # write it so). Taken where an integer is documented, and nowhere else.
            value = _whole_floats_as_ints(msgspec.json.decode(body), msgspec.inspect.type_info(annotation))
            return msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise invalid_input(exc, annotation) from exc
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest("Request body is not valid JSON") from exc


def invalid_input(exc: Exception, annotation: Any, whole: str | None = None) -> Any:
    """The 400 for a value msgspec refused as ``annotation``: named after the field its message points at
    (``whole`` when it points at none), saying what an enum allows rather than quoting a regex."""
    from app.errors import BadRequest
    from app.validation import enum_message

    message, _, path = str(exc).partition(" - at `$")
    field = path.rstrip("`").removeprefix(".") or whole
    if message.startswith("Expected `str` matching regex"):  # the regex itself helps no one
        message = "does not have the form /schema documents for it"
    message = enum_message(message, annotation, field or "")
    return BadRequest.field(field, message) if field else BadRequest(message)


def _json(body: bytes) -> Any:
    from app.errors import BadRequest

    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest("Request body is not valid JSON") from exc


def _holds_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds U+0000; a loop, not recursion, as
    decoded JSON may nest as deep as the decoder allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _whole_floats_as_ints(value: Any, info: Any) -> Any:
    """``value`` (decoded JSON) with each whole float that stands where ``info`` (msgspec.inspect) has an
    integer made an int; the rest as it is."""
    while isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = {type(t) for t in info.types}
        if (
            isinstance(value, float)
            and msgspec.inspect.IntType in kinds
            and msgspec.inspect.FloatType not in kinds
        ):
            info = next(t for t in info.types if isinstance(t, msgspec.inspect.IntType))
        else:
            shapes: tuple[type[msgspec.inspect.Type], ...] = ()
            if isinstance(value, dict):
                shapes = (msgspec.inspect.StructType, msgspec.inspect.DictType)
            elif isinstance(value, list):
                shapes = (msgspec.inspect.ListType,)
            info = next((t for t in info.types if isinstance(t, shapes)), None)
    if isinstance(info, msgspec.inspect.IntType) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        return {k: _whole_floats_as_ints(v, fields[k]) if k in fields else v for k, v in value.items()}
    if isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        return {k: _whole_floats_as_ints(v, info.value_type) for k, v in value.items()}
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [_whole_floats_as_ints(v, info.item_type) for v in value]
    return value


class StrictRequest(Request[Any, Any, Any]):
    """Every request of the app (``create_app`` sets it as the request class). Litestar decodes a JSON body
    untyped and then converts it to the handler's type with lax coercion ("1" -> 1, 0 -> false); here the
    body is decoded once, straight into the handler's ``data`` type, by ``decode_body``."""

    async def json(self) -> Any:
        data = self.route_handler.parsed_fn_signature.parameters.get("data")
        if data is None:  # no handler reads this body as JSON; still, only valid JSON is an answer
            return decode_body(await self.body() or b"null", Any)
        return decode_body(await self.body() or b"null", data.raw)


class Output(msgspec.Struct, kw_only=True, rename="camel"):
    """Every response: camelCase keys."""


class Message(Output):
    message: str


class SyncResult(Output):
    """What a bulk upsert did: rows created, rows that changed, items received."""

    created: int
    updated: int
    total: int


class PageMeta(Output, kw_only=True):
    """Offset mode: ``page, limit, total, totalPages``. Keyset mode (addition): ``limit, nextCursor`` only
    (no count is run; ``nextCursor`` is null on the last page). Fields left UNSET are not sent."""

    page: int | msgspec.UnsetType = msgspec.UNSET
    limit: int
    total: int | msgspec.UnsetType = msgspec.UNSET
    total_pages: int | msgspec.UnsetType = msgspec.UNSET
    next_cursor: str | msgspec.UnsetType | None = msgspec.UNSET


class Page(Output, Generic[T]):
    data: list[T]
    meta: PageMeta


Keyset = tuple[datetime, uuid.UUID]


def encode_cursor(key: Keyset) -> str:
    """Opaque to clients: base64url of the last row's (sort key, id)."""
    raw = f"{key[0].astimezone(UTC).isoformat()}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Keyset:
    from app.errors import BadRequest

    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, row_id = raw.split("|")
        key = datetime.fromisoformat(stamp), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest.field("cursor", "is not a cursor this API issued") from exc
    if key[0].tzinfo is None:
        raise BadRequest.field("cursor", "is not a cursor this API issued")
    return key


class Pagination(msgspec.Struct, frozen=True):
    """``page`` + ``per_page`` (alias ``limit``), validated once (max 100; above -> 400), or keyset mode
    when ``cursor`` is given (an empty ``cursor`` starts a walk at the first row)."""

    page: int
    limit: int
    keyset: bool = False
    after: Keyset | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @property
    def fetch(self) -> int:
        """Rows to ask for in keyset mode: one more than a page, to learn whether another follows."""
        return self.limit + 1

    def wrap(self, items: list[T], total: int) -> Page[T]:
        pages = math.ceil(total / self.limit) if total else 0
        return Page(
            data=items,
            meta=PageMeta(page=self.page, limit=self.limit, total=total, total_pages=pages),
        )

    def wrap_keyset(self, items: list[T], keys: list[Keyset]) -> Page[T]:
        """``items`` and their ``keys`` as fetched with ``fetch`` rows."""
        more = len(items) > self.limit
        next_cursor = encode_cursor(keys[self.limit - 1]) if more else None
        return Page(data=items[: self.limit], meta=PageMeta(limit=self.limit, next_cursor=next_cursor))


def provide_pagination(default_limit: int) -> Any:
    """A dependency reading ``page`` and ``per_page`` (alias ``limit``); above 100 -> 400."""
    from litestar.params import Parameter

    def pagination(
        page: Annotated[int, Parameter(query="page", ge=1, le=1_000_000)] = 1,
        per_page: Annotated[int | None, Parameter(query="per_page", ge=1, le=100)] = None,
        limit: Annotated[int | None, Parameter(query="limit", ge=1, le=100)] = None,
        cursor: Annotated[
            str | None,
            Parameter(
                query="cursor",
                max_length=200,
                description="Keyset pagination (addition): pass `meta.nextCursor` of the previous page, "
                "or an empty value to start; `page` is then ignored and no total is counted.",
            ),
        ] = None,
    ) -> Pagination:
        size = per_page or limit or default_limit
        if cursor is None:
            return Pagination(page=page, limit=size)
        return Pagination(page=1, limit=size, keyset=True, after=decode_cursor(cursor) if cursor else None)

    return pagination
