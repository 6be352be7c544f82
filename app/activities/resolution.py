"""Target and attribute resolution (CONTRACT.md §5), as pure functions over what
``app.activities.repo.resolution_context`` read in one round trip.

Target: the request's ``target_criteria`` or the tenant's active config with the lowest priority (none:
``DEFAULT_CONFIG``, the built-in default of CONTRACT.md §3); criteria by ascending priority (ROLE_MATCH,
LAST_CONTACTED_SAME_CHANNEL, LAST_CONTACTED_ALL_CHANNELS), then the fallbacks (a COMMERCE_REP, then an
OWNER). A match is LOCKED with its lockReason; no match is FAILED.

Attributes: the tenant's policy per key (no policy: UPFRONT by INTERNAL_SERVICE). A value that cannot be
resolved takes the caller's ``fallback`` (FALLBACK) or fails (FAILED).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.outbound.signing import HOOK_POLICY, Sealed

__all__ = (
    "DEFAULT_CONFIG",
    "Context",
    "Policy",
    "TargetOutcome",
    "Unresolvable",
    "attribute_row",
    "internal_value",
    "resolve_attribute",
    "resolve_target",
)

# A tenant with no active target-resolution config resolves with this (CONTRACT.md §3). Nothing is seeded:
# a seeded config would hold priority 0, the documented default, and the tenant's first config would 409.
DEFAULT_CONFIG: dict[str, Any] = {
    "resolution_strategy": "ON_CREATION",
    "fallback_to_commerce_rep": True,
    "fallback_to_owner": True,
    "criteria": [{"type": "ROLE_MATCH", "config": {"role": "COMMERCE_REP"}, "priority": 0}],
}

CALLER = "CALLER_PROVIDED"
CLIENT_HOOK_NOT_CALLED = (
    "the key's CLIENT_HOOK was not called (resolution outside a request or the dispatcher)"
)


class Unresolvable(Exception):
    """A value that cannot be resolved (the message is stored as the attribute's errorMessage)."""


@dataclass(frozen=True)
class Policy:
    """How one attribute key is resolved for this tenant."""

    key: str
    key_id: uuid.UUID
    strategy: str = "UPFRONT"
    resolver_type: str = "INTERNAL_SERVICE"
    hook_url: str | None = None
    # The policy's hook secrets as stored (None: no hook, or a policy from before secrets: unsigned calls).
    hook_signing: Sealed | None = None

    @property
    def caller_provided(self) -> bool:
        # The two revisions of the policies page put CALLER_PROVIDED in different fields.
        return CALLER in (self.strategy, self.resolver_type)

    @property
    def at_dispatch(self) -> bool:
        return self.strategy == "ON_DISPATCH" and not self.caller_provided


@dataclass(frozen=True)
class Context:
    """The commerce, its people and the tenant's configuration, as read for one activity."""

    commerce_id: uuid.UUID
    name: str
    external_id: str
    tax_id: str | None
    metadata: dict[str, Any]
    primary_address: str | None
    people: list[dict[str, Any]]
    last_same_channel: uuid.UUID | None
    last_any_channel: uuid.UUID | None
    config: dict[str, Any]  # the tenant's active config, or DEFAULT_CONFIG
    policies: dict[str, Policy] = field(default_factory=dict)
    # CLIENT_HOOK answers fetched before resolution (app/activities/hooks.py): key -> (ok, value or why)
    hooks: dict[str, tuple[bool, Any]] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> Context:
        keys = msgspec.json.decode(row["attribute_keys"] or "[]")
        policies = {
            k["key"]: Policy(
                key=k["key"],
                key_id=uuid.UUID(k["id"]),
                strategy=k["strategy"] or "UPFRONT",
                resolver_type=k["resolver_type"] or "INTERNAL_SERVICE",
                hook_url=k["hook_url"],
                hook_signing=_hook_signing(k),
            )
            for k in keys
        }
        return cls(
            commerce_id=row["id"],
            name=row["name"],
            external_id=row["external_id"],
            tax_id=row["tax_id"],
            metadata=msgspec.json.decode(row["metadata"]) if row["metadata"] else {},
            primary_address=row["primary_address"],
            people=[
                {"id": uuid.UUID(p["id"]), "roles": p["roles"]}
                for p in msgspec.json.decode(row["people"] or "[]")
            ],
            last_same_channel=row["last_same_channel"],
            last_any_channel=row["last_any_channel"],
            config=msgspec.json.decode(row["config"]) if row["config"] else DEFAULT_CONFIG,
            policies=policies,
        )

    @property
    def strategy(self) -> str:
        return str(self.config["resolution_strategy"])


def _hook_signing(policy: dict[str, Any]) -> Sealed | None:
    """A policy's hook secrets as ``resolution_context`` reads them (hex ciphertexts)."""
    if not policy.get("hook_secret"):
        return None
    previous = policy.get("hook_secret_previous")
    return Sealed.of(
        HOOK_POLICY,
        uuid.UUID(policy["tenant_id"]),
        uuid.UUID(policy["policy_id"]),
        bytes.fromhex(policy["hook_secret"]),
        bytes.fromhex(previous) if previous else None,
        policy.get("hook_secret_previous_until"),
    )


@dataclass(frozen=True)
class TargetOutcome:
    commerce_user_id: uuid.UUID | None
    lock_reason: str | None

    @property
    def status(self) -> str:
        return "LOCKED" if self.commerce_user_id else "FAILED"

    @property
    def error(self) -> str | None:
        return None if self.commerce_user_id else "no commerce user matched the criteria or the fallbacks"


def _with_role(people: list[dict[str, Any]], role: Any) -> uuid.UUID | None:
    return next((p["id"] for p in people if role in p["roles"]), None)


def resolve_target(ctx: Context, criteria: list[dict[str, Any]] | None) -> TargetOutcome:
    """The target of an activity: ``criteria`` (the request's override) or the config's; then fallbacks."""
    config = ctx.config
    chosen = criteria if criteria is not None else config.get("criteria", [])
    active = {p["id"] for p in ctx.people}
    for criterion in sorted(chosen, key=lambda c: c.get("priority", 0)):
        kind = criterion["type"]
        match: uuid.UUID | None = None
        if kind == "ROLE_MATCH":
            match = _with_role(ctx.people, (criterion.get("config") or {}).get("role"))
        elif kind == "LAST_CONTACTED_SAME_CHANNEL":
            match = ctx.last_same_channel
        elif kind == "LAST_CONTACTED_ALL_CHANNELS":
            match = ctx.last_any_channel
        if match is not None and match in active:
            return TargetOutcome(match, "CRITERIA_MATCH")
    if config.get("fallback_to_commerce_rep", True) and (rep := _with_role(ctx.people, "COMMERCE_REP")):
        return TargetOutcome(rep, "FALLBACK_COMMERCE_REP")
    if config.get("fallback_to_owner", True) and (owner := _with_role(ctx.people, "OWNER")):
        return TargetOutcome(owner, "FALLBACK_OWNER")
    return TargetOutcome(None, None)


def internal_value(ctx: Context, key: str) -> Any:
    """The INTERNAL_SERVICE resolvers: ``commerce_info`` and ``promotions``."""
    if key == "commerce_info":
        return {
            "name": ctx.name,
            "externalId": ctx.external_id,
            "taxId": ctx.tax_id,
            "address": ctx.primary_address,
        }
    if key == "promotions":
        promotions = ctx.metadata.get("promotions")
        if promotions is None:
            raise Unresolvable("the commerce has no metadata.promotions")
        return promotions
    raise Unresolvable(f"no internal resolver for key {key}")


def _value(ctx: Context, policy: Policy, caller_value: Any) -> tuple[str, Any]:
    """(resolverType, value) or Unresolvable."""
    if policy.caller_provided:
        if caller_value is msgspec.UNSET or caller_value is None:
            raise Unresolvable("the key's policy is CALLER_PROVIDED and no value was provided")
        return CALLER, caller_value
    if policy.resolver_type == "CLIENT_HOOK":
        answer = ctx.hooks.get(policy.key)
        if answer is None:
            raise Unresolvable(CLIENT_HOOK_NOT_CALLED)
        ok, value = answer
        if not ok:
            raise Unresolvable(f"the key's CLIENT_HOOK failed: {value}")
        return "CLIENT_HOOK", value
    return "INTERNAL_SERVICE", internal_value(ctx, policy.key)


def resolve_attribute(ctx: Context, policy: Policy, caller_value: Any, fallback: Any) -> dict[str, Any]:
    """The resolution columns of one attribute: RESOLVED, else FALLBACK (``fallback`` not None), else
    FAILED with the reason."""
    try:
        resolver, value = _value(ctx, policy, caller_value)
    except Unresolvable as exc:
        if fallback is not None:
            return {"value": fallback, "resolution_status": "FALLBACK", "error_message": None}
        return {"value": None, "resolution_status": "FAILED", "error_message": str(exc)}
    return {"resolver_type": resolver, "value": value, "resolution_status": "RESOLVED", "error_message": None}


def attribute_row(ctx: Context, policy: Policy, caller_value: Any, fallback: Any) -> dict[str, Any]:
    """A new attribute row; an ON_DISPATCH key stays PENDING until the dispatcher resolves it."""
    row: dict[str, Any] = {
        "attribute_key_id": policy.key_id,
        "strategy": CALLER if policy.caller_provided else policy.strategy,
        "resolver_type": CALLER if policy.caller_provided else policy.resolver_type,
        "hook_url": policy.hook_url,
        "value": None,
        "fallback": None if fallback is msgspec.UNSET else fallback,
        "resolution_status": "PENDING",
        "error_message": None,
    }
    if policy.at_dispatch:
        return row
    return {**row, **resolve_attribute(ctx, policy, caller_value, row["fallback"])}
