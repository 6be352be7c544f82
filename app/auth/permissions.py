"""The one role -> permission map (CONTRACT.md §2) and the role hierarchy."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = (
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "highest_rank",
    "normalize_permissions",
    "normalize_roles",
    "permissions_for",
    "rank",
    "tenant_roles",
)

# Highest first. A manager may change or reset only users strictly below its own highest role.
ROLES: tuple[str, ...] = ("SUPER_ADMIN", "ADMIN", "FDE", "VIEWER")

_S, _A, _F, _V = ROLES
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {}
_MATRIX: dict[str, tuple[str, ...]] = {
    "CREATE_USER": (_S, _A),
    "UPDATE_USER": (_S, _A),
    "RESET_USER_PASSWORD": (_S, _A),
    "VIEW_USERS": (_S, _A, _F),
    "DELETE_USER": (_S,),
    "CREATE_TENANT": (_S,),
    "UPDATE_TENANT": (_S,),
    "DELETE_TENANT": (_S,),
    "VIEW_TENANTS": (_S, _A),
    "MANAGE_COMMERCES": (_S, _A, _F),
    "MANAGE_OPERATORS": (_S, _A, _F),
    "MANAGE_ROUTES": (_S, _A, _F),
    "SYNC_COMMERCES": (_S, _A),
    "SYNC_OPERATORS": (_S, _A),
    "VIEW_ACTIVITIES": (_S, _A, _F, _V),
    "CREATE_ACTIVITY": (_S, _A, _F),
    "DISPATCH_ACTIVITY": (_S, _A, _F),
    "SUBMIT_ACTIVITY_RESULT": (_S, _A, _F),
    "CANCEL_ACTIVITY": (_S, _A),
    "MANAGE_ACTIVITY_CONFIG": (_S, _A),
    "MANAGE_API_KEYS": (_S, _A),
    # Addition: the global dispatch providers and their channel definitions (the Reten team's).
    "MANAGE_DISPATCH_PROVIDERS": (_S,),
}
PERMISSIONS: frozenset[str] = frozenset(_MATRIX)
for _role in ROLES:
    ROLE_PERMISSIONS[_role] = frozenset(p for p, roles in _MATRIX.items() if _role in roles)


def rank(role: str) -> int:
    """0 for SUPER_ADMIN ... 3 for VIEWER; lower is higher."""
    return ROLES.index(role)


def highest_rank(roles: Iterable[str]) -> int:
    """Rank of the highest role held; len(ROLES) when none (below everyone)."""
    return min((rank(r) for r in roles if r in ROLES), default=len(ROLES))


def tenant_roles(membership_roles: Iterable[str] | None, super_admin: bool) -> tuple[str, ...]:
    """What a user holds where it acts: the roles of its membership of that tenant (None: not a
    member), led by SUPER_ADMIN for a platform admin; highest first."""
    held = set(membership_roles or ())
    if super_admin:
        held.add("SUPER_ADMIN")
    return tuple(r for r in ROLES if r in held)


def permissions_for(roles: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(out)


def normalize_permissions(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """Upper-case, de-duplicate, keep order; returns (known, unknown)."""
    known: list[str] = []
    unknown: list[str] = []
    for value in values:
        name = value.strip().upper()
        target = known if name in PERMISSIONS else unknown
        if name not in target:
            target.append(name)
    return known, unknown


def normalize_roles(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """Upper-case, de-duplicate, ordered highest first; returns (known, unknown)."""
    names = {v.strip().upper() for v in values}
    known = [r for r in ROLES if r in names]
    unknown = sorted(names - set(ROLES))
    return known, unknown
