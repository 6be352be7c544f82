"""/schema as the service behaves, and the service as /schema says.

- Input Structs refuse unknown fields (``forbid_unknown_fields``, set once in app.structs): their component
  schemas say ``additionalProperties: false``; outputs stay open. A Struct can add the rules between its
  fields that its code enforces (``json_schema_rules``).
- A parameter is described as the wire carries it (``WireOperation``): a query string or a header has no
  null, an absent optional parameter is how "none" is said.
- Query and header parameters are taken only as /schema types them: Litestar converts their text with
  lax coercion (``page=1e3`` -> 1000, ``is_active=0`` -> false, ``scheduled_to=0.5`` -> a Unix time,
  ``null`` -> no value), so ``strict_parameters`` refuses, before that conversion, a value that is not the
  documented integer, boolean, date-time, UUID or enum value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import msgspec

# The plugin Litestar uses for msgspec Structs (not re-exported publicly in 2.x): ours only adds to it.
from litestar._openapi.schema_generation.plugins import StructSchemaPlugin  # type: ignore[attr-defined]
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPI, OpenAPIFormat, OpenAPIType, Operation, Reference, Schema

from app.errors import BadRequest

__all__ = ("InputStructSchemaPlugin", "WireOperation", "strict_parameters")

# JSON Schema keywords a Struct's ``json_schema_rules`` may use -> the field of Litestar's Schema.
_RULE_FIELDS = {
    "allOf": "all_of",
    "anyOf": "any_of",
    "oneOf": "one_of",
    "not": "schema_not",
    "if": "schema_if",
    "then": "then",
    "else": "schema_else",
    "dependentRequired": "dependent_required",
}


class InputStructSchemaPlugin(StructSchemaPlugin):
    """Struct schemas as Litestar builds them, plus ``additionalProperties: false`` for every Struct that
    refuses unknown fields (every input Struct), so a client learns from /schema what a 400 will say, and
    the Struct's ``json_schema_rules`` (JSON Schema keywords for rules between fields, e.g. "a task
    names both its route and its operator"), which its own code enforces."""

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        if struct.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
            info = msgspec.inspect.type_info(struct)
            assert isinstance(info, msgspec.inspect.StructType)
            for field in info.fields:
                _constrain((schema.properties or {}).get(field.encode_name), field.type)
        for keyword, value in getattr(struct, "json_schema_rules", {}).items():
            setattr(schema, _RULE_FIELDS[keyword], value)
        return schema


# What Litestar may set beside ``oneOf: [T, null]`` that belongs to ``T``.
_MEMBER_KEYWORDS = (
    "minimum",
    "maximum",
    "exclusive_minimum",
    "exclusive_maximum",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
    "min_items",
    "max_items",
)


def _constrain(schema: Any, info: Any) -> None:
    """Put on an input field's ``schema`` what msgspec enforces and Litestar leaves out or misplaces: the
    constraints of list items (``list[Annotated[str, Meta(pattern=...)]]`` rendered as bare strings),
    integer bounds as integers, and the constraints of an optional value, which Litestar sets beside
    ``oneOf: [T, null]``, where a generator takes ``maximum`` for the bound of any number (and sends
    19541.0 for an integer)."""
    while isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if not isinstance(schema, Schema):
        return
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        members = [m for m in schema.one_of or () if isinstance(m, Schema) and m.type != OpenAPIType.NULL]
        if len(kinds) == 1 and len(members) == 1:
            for name in _MEMBER_KEYWORDS:
                if getattr(schema, name) is not None and getattr(members[0], name) is None:
                    setattr(members[0], name, getattr(schema, name))
                setattr(schema, name, None)
            _constrain(members[0], kinds[0])
        elif len(kinds) == 1 and not schema.one_of:
            _constrain(schema, kinds[0])
    elif isinstance(info, msgspec.inspect.ListType) and isinstance(schema.items, Schema):
        schema.items = copy.copy(schema.items)
        _constrain(schema.items, info.item_type)
    elif isinstance(info, msgspec.inspect.StrType):
        for name in ("min_length", "max_length", "pattern"):
            if getattr(schema, name) is None and getattr(info, name) is not None:
                setattr(schema, name, getattr(info, name))
    elif isinstance(info, msgspec.inspect.IntType):
        for name, value in (
            ("minimum", info.ge),
            ("maximum", info.le),
            ("exclusive_minimum", info.gt),
            ("exclusive_maximum", info.lt),
            ("multiple_of", info.multiple_of),
        ):
            if value is not None:
                setattr(schema, name, value)


@dataclass
class WireOperation(Operation):
    """An operation whose parameters are described as they travel. Litestar renders an optional ``T |
    None`` parameter as ``oneOf: [T, null]`` (bounds beside it) or with ``null`` in its type and enum,
    but a query string or a header cannot carry a null: an absent parameter is the none. And a generator
    reading ``maximum: 100.0`` may send ``5.0`` for an integer. Each parameter's schema becomes ``T``, its
    bounds integers when ``T`` is."""

    def __post_init__(self) -> None:
        for parameter in self.parameters or ():
            schema = getattr(parameter, "schema", None)
            if isinstance(schema, Schema):
                parameter.schema = _without_null(schema)  # type: ignore[union-attr]


def _without_null(schema: Schema) -> Schema:
    schema = copy.copy(schema)  # Litestar may share a schema object between parameters
    if schema.one_of:
        kept = [m for m in schema.one_of if not (isinstance(m, Schema) and m.type == OpenAPIType.NULL)]
        if len(kept) == 1 and isinstance(kept[0], Schema):
            inner = copy.copy(kept[0])
            for field in fields(Schema):  # the keywords set beside the oneOf: bounds, lengths, description
                value = getattr(schema, field.name)
                if field.name != "one_of" and value is not None and getattr(inner, field.name) is None:
                    setattr(inner, field.name, value)
            schema = inner
    if isinstance(schema.type, list) and OpenAPIType.NULL in schema.type:
        types = [t for t in schema.type if t != OpenAPIType.NULL]
        schema.type = types[0] if len(types) == 1 else types
    if schema.enum is not None:
        schema.enum = [v for v in schema.enum if v is not None]
    if schema.type == OpenAPIType.INTEGER:
        for name in ("minimum", "maximum"):
            if isinstance(getattr(schema, name), float):
                setattr(schema, name, int(getattr(schema, name)))
    return schema


# What a parameter's text must look like for each documented type (RFC 3339 date-time, offset required).
_INTEGER = re.compile(r"-?[0-9]+")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE_TIME_MESSAGE = "must be a date-time with a UTC offset, e.g. 2025-01-16T09:00:00Z"

Check = tuple[Callable[[str], bool], str]
ParameterChecks = dict[tuple[str, str], list[tuple[ParamType, str, Check]]]


def _check(schema: Schema | Reference | None, components: dict[str, Any]) -> Check | None:
    """What a parameter's text must be, when its (wire-normalized) schema types it: an integer, a
    boolean, a date-time, a UUID or one of an enum's values. None for free text."""
    if isinstance(schema, Reference):
        schema = components.get(schema.ref.rsplit("/", 1)[-1])
    if not isinstance(schema, Schema):
        return None
    if schema.enum:
        values = frozenset(str(v) for v in schema.enum)
        return values.__contains__, f"must be one of {', '.join(str(v) for v in schema.enum)}"
    if schema.type == OpenAPIType.INTEGER:
        return (lambda v: _INTEGER.fullmatch(v) is not None), "must be an integer"
    if schema.type == OpenAPIType.BOOLEAN:
        return (lambda v: v in ("true", "false")), "must be true or false"
    if schema.type == OpenAPIType.STRING and schema.format == OpenAPIFormat.DATE_TIME:
        return (lambda v: _DATE_TIME.fullmatch(v) is not None), _DATE_TIME_MESSAGE
    if schema.type == OpenAPIType.STRING and schema.format == OpenAPIFormat.UUID:
        return (lambda v: _UUID.fullmatch(v) is not None), "must be a UUID"
    return None


def parameter_checks(openapi: OpenAPI) -> ParameterChecks:
    """(path template, METHOD) -> the checks of its typed query and header parameters."""
    components = dict((openapi.components.schemas or {}) if openapi.components else {})
    out: ParameterChecks = {}
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            checks = [
                (p.param_in, p.name, check)
                for p in operation.parameters or ()
                if getattr(p, "param_in", None) in (ParamType.QUERY, ParamType.HEADER)
                and (check := _check(p.schema, components)) is not None
            ]
            if checks:
                out[(path, method.upper())] = checks
    return out


def strict_parameters(request: Any) -> None:
    """``before_request`` of the app: 400 for a query or header value that is not what /schema types it
    as (Litestar would coerce it, or read the text ``null`` as no value)."""
    state = request.app.state
    checks: ParameterChecks | None = state.get("parameter_checks")
    if checks is None:
        checks = state["parameter_checks"] = parameter_checks(request.app.openapi_schema)
    for location, name, (valid, message) in checks.get(
        (request.scope.get("path_template"), request.method), ()
    ):
        source = request.query_params if location == ParamType.QUERY else request.headers
        for value in source.getall(name, ()):
            if not valid(value):
                raise BadRequest.field(name, message)
