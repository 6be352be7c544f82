"""What a value at a path of an input type may be: lets a 400 for a bad enum value name the allowed ones
(msgspec's own message says only "Invalid enum value 'X'")."""

from __future__ import annotations

import re
from typing import Any

import msgspec

__all__ = ("allowed_values", "enum_message")

_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def allowed_values(root: Any, path: str) -> list[str] | None:
    """The literal values allowed at ``path`` (msgspec's form: ``$.a.b[0].c``, or without ``$.``) of the
    type ``root``, or None when that is not a literal/enum field (or the path does not resolve)."""
    try:
        info: Any = msgspec.inspect.type_info(root)
    except (TypeError, ValueError):
        return None
    for name, index in _STEP.findall(path.removeprefix("$")):
        info = _unwrap(info)
        if index:
            if not isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.SetType)):
                return None
            info = info.item_type
        elif isinstance(info, msgspec.inspect.StructType):
            field = next((f for f in info.fields if name in (f.name, f.encode_name)), None)
            if field is None:
                return None
            info = field.type
        else:
            return None
    info = _unwrap(info)
    if isinstance(info, msgspec.inspect.LiteralType):
        return [str(v) for v in info.values]
    if isinstance(info, msgspec.inspect.EnumType):
        return [str(m.value) for m in info.cls]
    return None


def enum_message(message: str, root: Any, path: str) -> str:
    """``message``, or "must be one of A, B, C" when it is msgspec's bad-enum message for ``path``."""
    if message.startswith("Invalid enum value") and (values := allowed_values(root, path)):
        return f"must be one of {', '.join(values)}"
    return message


def _unwrap(info: Any) -> Any:
    """Through Optional / Meta wrappers to the one non-None type."""
    while True:
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        elif isinstance(info, msgspec.inspect.UnionType):
            kinds = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
            if len(kinds) != 1:
                return info
            info = kinds[0]
        else:
            return info
