"""Activity configuration: the attribute-key catalogue, attribute policies (both body revisions), target-
resolution configs with their criteria, and task result types."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.activities.schemas import CriterionInput, Priority
from app.structs import Name, Output, SnakeInput, Timestamp, either_spelling, one_spelling, whole

__all__ = (
    "AttributeKey",
    "AttributePolicy",
    "AttributePolicySaved",
    "AttributePolicyUpsert",
    "HookSecret",
    "ResultType",
    "ResultTypeCreate",
    "ResultTypeUpdate",
    "TargetConfig",
    "TargetConfigCreate",
    "TargetConfigUpdate",
)

Strategy = Literal["UPFRONT", "ON_DISPATCH", "CALLER_PROVIDED"]
ResolverType = Literal["INTERNAL_SERVICE", "CLIENT_HOOK", "CALLER_PROVIDED"]
ResolutionStrategy = Literal["ON_CREATION", "ON_DISPATCH", "MANUAL"]
ResultCode = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"),
        description="1-64 letters, digits, `_`, `.` or `-`; case-sensitive",
    ),
]
HookUrl = Annotated[str, msgspec.Meta(max_length=2048)]
Criteria = Annotated[list[CriterionInput], msgspec.Meta(max_length=20)]


class AttributeKey(Output):
    id: uuid.UUID
    key: str
    label: str
    description: str


class AttributeKeyRef(Output):
    key: str
    label: str


class AttributePolicy(Output):
    """Both revisions' keys: ``strategy`` (EN) and ``resolutionStrategy`` (ES) carry the same value."""

    id: uuid.UUID
    attribute_key_id: uuid.UUID
    strategy: Strategy
    resolution_strategy: Strategy
    resolver_type: ResolverType
    hook_url: str | None
    attribute_key: AttributeKeyRef
    created_at: Timestamp
    updated_at: Timestamp


class AttributePolicySaved(AttributePolicy, omit_defaults=True):
    """The upsert answer: the policy, and ``hookSecret`` when this call made the hook's signing secret
    (a new CLIENT_HOOK policy, or one that became CLIENT_HOOK), shown this once (addition)."""

    hook_secret: str | None = None


class HookSecret(Output):
    """A new hook signing secret, shown this once; the one it replaced signs beside it until
    ``previousSecretExpiresAt`` (addition)."""

    hook_secret: str
    previous_secret_expires_at: Timestamp | None


def _sent(*names: str) -> dict[str, Any]:
    """Any of ``names`` is sent, not null."""
    return {"anyOf": [{"properties": {n: {"not": {"type": "null"}}}, "required": [n]} for n in names]}


def _sent_as(value: str, *names: str) -> dict[str, Any]:
    """Any of ``names`` is sent as ``value``."""
    return {"anyOf": [{"properties": {n: {"const": value}}, "required": [n]} for n in names]}


class AttributePolicyUpsert(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Either revision of the body: camelCase ``attributeKeyId, strategy, resolverType`` (EN) or
    snake_case ``attribute_key_id, resolution_strategy, resolver_type`` (ES); ``hook_url``/``hookUrl``
    (addition) is the CLIENT_HOOK endpoint."""

    # What normalized() requires: each field in one spelling or the other, and a hook URL exactly when
    # the resolver is CLIENT_HOOK.
    json_schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [
            _sent("attribute_key_id", "attributeKeyId"),
            _sent("resolution_strategy", "strategy"),
            _sent("resolver_type", "resolverType"),
            {
                "if": _sent_as("CLIENT_HOOK", "resolver_type", "resolverType"),
                "then": _sent("hook_url", "hookUrl"),
                "else": {"not": _sent("hook_url", "hookUrl")},
            },
        ]
    }

    attribute_key_id: uuid.UUID | None = None
    attribute_key_id_camel: uuid.UUID | None = msgspec.field(default=None, name="attributeKeyId")
    resolution_strategy: Strategy | None = None
    strategy: Strategy | None = None
    resolver_type: ResolverType | None = None
    resolver_type_camel: ResolverType | None = msgspec.field(default=None, name="resolverType")
    hook_url: HookUrl | None = None
    hook_url_camel: HookUrl | None = msgspec.field(default=None, name="hookUrl")

    def normalized(self) -> tuple[uuid.UUID, str, str, str | None]:
        """(attribute_key_id, strategy, resolver_type, hook_url); ValueError names what is wrong."""
        key_id = one_spelling("attribute_key_id", self.attribute_key_id, self.attribute_key_id_camel)
        strategy = one_spelling("resolution_strategy", self.resolution_strategy, self.strategy)
        resolver = one_spelling("resolver_type", self.resolver_type, self.resolver_type_camel)
        hook = either_spelling("hook_url", self.hook_url, self.hook_url_camel)
        if resolver == "CLIENT_HOOK":
            if hook is None:
                raise ValueError("hook_url: a CLIENT_HOOK policy needs the hook's URL")
        elif hook is not None:
            raise ValueError("hook_url: only a CLIENT_HOOK policy has a hook URL")
        return key_id, strategy, resolver, hook


class ResultType(Output):
    id: uuid.UUID
    code: str
    label: str
    requires_future_scheduled_at: bool
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp


class ResultTypeCreate(SnakeInput, kw_only=True):
    code: ResultCode
    label: Name
    requires_future_scheduled_at: bool = False


class ResultTypeUpdate(SnakeInput, kw_only=True):
    label: Name | UnsetType = UNSET
    requires_future_scheduled_at: bool | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class Criterion(Output):
    id: uuid.UUID
    criteria_type: str
    criteria_config: dict[str, Any]
    priority: int


class TargetConfig(Output):
    id: uuid.UUID
    resolution_strategy: ResolutionStrategy
    fallback_to_commerce_rep: bool
    fallback_to_owner: bool
    priority: int
    is_active: bool
    criteria: list[Criterion]
    created_at: Timestamp
    updated_at: Timestamp


class TargetConfigCreate(SnakeInput, kw_only=True):
    resolution_strategy: ResolutionStrategy
    fallback_to_commerce_rep: bool = True
    fallback_to_owner: bool = True
    priority: Priority = 0
    is_active: bool = True
    criteria: Criteria = []


class TargetConfigUpdate(SnakeInput, kw_only=True):
    """All optional; ``criteria``, when sent, replaces the config's criteria."""

    resolution_strategy: ResolutionStrategy | UnsetType = UNSET
    fallback_to_commerce_rep: bool | UnsetType = UNSET
    fallback_to_owner: bool | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET
    criteria: Criteria | UnsetType = UNSET
