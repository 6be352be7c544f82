"""T1 and T7 (research/reliability-security.md §7): the cross-tenant authorization matrix, generated from the
app's own route table.

``MATRIX`` names every (method, path) of ``app.routes`` under /api with the access it declares (mode and
permission, compared with the ``RoutePolicy`` of its handler) and what tenant A's ADMIN gets when the
route's path is filled with tenant B's objects. A route the app has and the table lacks (or the other way
round) fails ``test_matrix_names_every_route``, naming it.

The sweep seeds tenant B with an object of every kind, snapshots B's rows (as the owner, in B's context:
row-level security is forced even for the owner), then calls every route as each caller of ``CALLERS``:

    anon          no credentials                                  -> 401 (public routes: their own answer)
    jwt_a         A's ADMIN, JWT + x-tenant-id A, B's ids         -> the route's ``own`` (404 for B's ids)
    jwt_a_hdr_b   A's ADMIN, JWT + x-tenant-id B (not a member)   -> 403 on tenant routes
    key_a         A's API key holding every ADMIN permission      -> as jwt_a on tenant routes, 403 where a
                                                                     person is needed
    key_a_lacking A's API key with every ADMIN permission but the route's own   -> 403
    key_a_hdr_b   A's API key + x-tenant-id B                     -> 403
    key_revoked   a revoked key of A                              -> 401

and a Bearer token on an API-key-only route -> 401. Afterwards B's rows must be identical, and no response
of the sweep may carry an id of tenant B's (nor its slug or its users' emails). Bodies are minimal valid
ones, so a 404 is the tenant decision and not a validation error; creates in A reuse B's natural keys
(external ids, codes, priorities, channels) to show that they are per tenant.

Method swaps (T7): every path of the route table (the matrix's, filled with B's objects, and the
operational ones), called with each method of ``SWAPS`` it does not declare, by every caller above and by
B's own ADMIN (``jwt_b``, who could change those objects), answers 405 with the documented error body and
an ``Allow`` naming exactly the path's methods; never anything else (no 2xx, no 401/403/404 that would
mean a handler ran), and neither tenant's rows change. OPTIONS is declared on every path (its answer,
``Allow``, is tests/test_bad_input.py's)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from activities.helpers import Client, commerce, create_activity, create_task, first_config, ok, result_body
from conftest import PASSWORD, TENANT_TABLES, World, add_user
from httpx import Response
from litestar import Litestar
from litestar.routes import HTTPRoute

from app.auth.permissions import ROLE_PERMISSIONS
from app.policy import RoutePolicy

Mode = Literal["public", "user", "tenant", "tenant_jwt", "api_key"]
Seed = dict[str, str]
Body = Callable[[Seed, str], Any]

# Not under /api: operational and documentation routes, public by design (tests/test_platform.py).
OPERATIONAL = ("/health", "/ready", "/metrics", "/schema")
SCHEDULED = "2031-01-16T09:00:00.000Z"
ADMIN_PERMISSIONS = sorted(ROLE_PERMISSIONS["ADMIN"])
# Seed entries that are not tenant B's: global catalogue rows and literal path values.
GLOBAL_FILLS = frozenset({"provider", "attribute_key", "role", "channel"})


@dataclass(frozen=True)
class Row:
    """How one route may be called, and what tenant A gets from it with tenant B's objects."""

    mode: Mode
    permission: str | None
    own: int | None = None  # A's ADMIN (JWT + x-tenant-id A); None on API-key-only routes
    key: int | None = None  # A's full API key on tenant/api_key routes (default: ``own``)
    anon: int = 401
    fill: tuple[tuple[str, str], ...] = ()  # path parameter -> Seed entry
    body: Body | None = None
    query: Callable[[Seed], dict[str, str]] | None = None
    why: str = ""  # why ``own`` is not the plain 404 / success


def row(
    mode: Mode,
    permission: str | None,
    own: int | None = None,
    *,
    fill: dict[str, str] | None = None,
    **kw: Any,
) -> Row:
    return Row(mode, permission, own, fill=tuple((fill or {}).items()), **kw)


def tenant(permission: str, own: int, **kw: Any) -> Row:
    return row("tenant", permission, own, **kw)


# ---- bodies ---------------------------------------------------------------------------------------
# ``tag`` is "" for jwt_a (which reuses B's natural keys), "-k" for key_a, another suffix for the callers
# that are refused, so each create that succeeds in A is its own.
def _activity(s: Seed, tag: str) -> dict[str, Any]:
    return {"type": "MESSAGE", "reason": "Matrix", "channel": "WHATSAPP", "commerce_id": s["commerce"],
            "idempotency_key": f"b-message{tag}", "scheduled_at": SCHEDULED}  # fmt: skip


def _task(s: Seed, tag: str) -> dict[str, Any]:
    return {"reason": "Matrix", "channel": "SALESMAN", "commerce_id": s["commerce"],
            "idempotency_key": f"b-task{tag}", "scheduled_at": SCHEDULED,
            "assigned_route_id": s["route"], "assigned_operator_id": s["operator"]}  # fmt: skip


def _result(s: Seed, tag: str, status: str = "COMPLETED") -> dict[str, Any]:
    task_result = {"result": "SALE_COMPLETED", "comment": "x", "contact_type": "OUTBOUND"}
    return {
        "activity_id": s["task"],
        "commerce_external_id": "store-b1",
        "occurred_at": "2031-01-16T14:30:00.000Z",
        "status": status,
        "task_result": task_result,
    }


def _commerce(s: Seed, tag: str) -> dict[str, Any]:
    return {"external_id": f"store-b1{tag}", "name": "Store B1"}


def _operator(s: Seed, tag: str) -> dict[str, Any]:
    return {"type": "SALESMAN", "name": "Op RB1", "external_id": f"op-b1{tag}", "email": f"op{tag}@b.test"}


PRIORITY = {"": 0, "-k": 1}  # B's config has priority 0; A's first one may take it too
CHANNEL = {"": "WHATSAPP", "-k": "SMS"}  # B's dispatch config is WHATSAPP; one active per channel


def _name(s: Seed, tag: str) -> dict[str, Any]:
    return {"name": "Taken over"}


_C = {"commerce_id": "commerce"}
_CU = {"commerce_id": "commerce", "user_id": "person"}
_CUC = {**_CU, "contact_id": "contact"}
_A = {"activity_id": "task"}
_ME = "(the caller's own, no tenant: nothing of B's can be named)"

# ---- the matrix: (method, path as app.routes spells it) -> Row -----------------------------------------
MATRIX: dict[tuple[str, str], Row] = {
    # auth
    ("POST", "/api/auth/login"): row(
        "public",
        None,
        anon=401,
        body=lambda s, t: {"identifier": "admin@b.test", "password": "not-the-password"},
        why="B's admin's email with a wrong password: 401, nothing about B",
    ),
    ("POST", "/api/auth/refresh"): row("public", None, anon=401, why="no refresh cookie"),
    ("POST", "/api/auth/logout"): row("public", None, anon=200, why="no cookie: nothing to revoke"),
    ("GET", "/api/auth/me"): row("user", None, 200, why=_ME),
    ("POST", "/api/auth/reset-my-password"): row(
        "user",
        None,
        400,
        body=lambda s, t: {"currentPassword": "not-my-password", "newPassword": "matrix-new-password-1"},
        why="authorized (a person), then a wrong current password: 400 and nothing changes",
    ),
    ("POST", "/api/auth/reset-user-password"): row(
        "tenant_jwt",
        "RESET_USER_PASSWORD",
        404,
        body=lambda s, t: {"userId": s["user"], "newPassword": "taken-over-password"},
    ),
    # tenants (identity routes: no x-tenant-id; what A's ADMIN sees is decided by its memberships)
    ("GET", "/api/tenant"): row("user", "VIEW_TENANTS", 200, why="the tenants A's ADMIN administers"),
    ("GET", "/api/tenant/mine"): row("user", None, 200, why=_ME),
    ("POST", "/api/tenant/setup"): row(
        "user",
        "CREATE_TENANT",
        403,
        body=lambda s, t: {
            "name": "B",
            "slug": "tenant-b",
            "adminEmail": "admin@b.test",
            "adminPassword": PASSWORD,
            "adminFirstName": "X",
            "adminLastName": "Y",
        },
        why="SUPER_ADMIN only",
    ),
    ("GET", "/api/tenant/{tenant_id:uuid}"): row("user", "VIEW_TENANTS", 404, fill={"tenant_id": "tenant"}),
    ("PATCH", "/api/tenant/{tenant_id:uuid}"): row(
        "user",
        "UPDATE_TENANT",
        403,
        fill={"tenant_id": "tenant"},
        body=lambda s, t: {"isActive": False},
        why="SUPER_ADMIN only",
    ),
    ("DELETE", "/api/tenant/{tenant_id:uuid}"): row(
        "user", "DELETE_TENANT", 403, fill={"tenant_id": "tenant"}, why="SUPER_ADMIN only"
    ),
    # users of the active tenant
    ("GET", "/api/user/tenant-users"): row("tenant_jwt", "VIEW_USERS", 200),
    ("POST", "/api/user"): row(
        "tenant_jwt",
        "CREATE_USER",
        409,
        body=lambda s, t: {
            "email": "fde@b.test",
            "password": PASSWORD,
            "firstName": "X",
            "roles": ["VIEWER"],
        },
        why="B's user's email: the one neutral 409, and B's account is not linked into A",
    ),
    ("PUT", "/api/user/{user_id:uuid}/roles"): row(
        "tenant_jwt", "UPDATE_USER", 404, fill={"user_id": "user"}, body=lambda s, t: {"roles": ["VIEWER"]}
    ),
    ("DELETE", "/api/user/{user_id:uuid}/tenant"): row(
        "tenant_jwt", "UPDATE_USER", 404, fill={"user_id": "user"}
    ),
    # API keys
    ("GET", "/api/api-keys"): row(
        "tenant_jwt", "MANAGE_API_KEYS", 200, query=lambda s: {"all": "true"}, why="every key of A"
    ),
    ("POST", "/api/api-keys"): row(
        "tenant_jwt",
        "MANAGE_API_KEYS",
        201,
        body=lambda s, t: {"name": f"matrix{t}", "permissions": ["VIEW_ACTIVITIES"]},
    ),
    ("POST", "/api/api-keys/{key_id:uuid}/revoke"): row(
        "tenant_jwt", "MANAGE_API_KEYS", 404, fill={"key_id": "api_key"}
    ),
    # commerces
    ("GET", "/api/commerces"): tenant("MANAGE_COMMERCES", 200, query=lambda s: {"search": "store-b1"}),
    ("POST", "/api/commerces"): tenant("MANAGE_COMMERCES", 201, body=_commerce),
    ("POST", "/api/commerces/sync"): tenant(
        "SYNC_COMMERCES", 201, body=lambda s, t: {"items": [_commerce(s, t)]}
    ),
    ("GET", "/api/commerces/{commerce_id:uuid}"): tenant("MANAGE_COMMERCES", 404, fill=_C),
    ("PATCH", "/api/commerces/{commerce_id:uuid}"): tenant("MANAGE_COMMERCES", 404, fill=_C, body=_name),
    ("DELETE", "/api/commerces/{commerce_id:uuid}"): tenant("MANAGE_COMMERCES", 404, fill=_C),
    ("POST", "/api/commerces/{commerce_id:uuid}/addresses"): tenant(
        "MANAGE_COMMERCES", 404, fill=_C, body=lambda s, t: {"source": "RETEN", "street": "Taken"}
    ),
    ("PATCH", "/api/commerces/{commerce_id:uuid}/addresses/{address_id:uuid}"): tenant(
        "MANAGE_COMMERCES", 404, fill={**_C, "address_id": "address"}, body=lambda s, t: {"street": "Taken"}
    ),
    ("DELETE", "/api/commerces/{commerce_id:uuid}/addresses/{address_id:uuid}"): tenant(
        "MANAGE_COMMERCES", 404, fill={**_C, "address_id": "address"}
    ),
    ("POST", "/api/commerces/{commerce_id:uuid}/users"): tenant(
        "MANAGE_COMMERCES", 404, fill=_C, body=lambda s, t: {"name": "Taken Over", "roles": ["OWNER"]}
    ),
    ("PATCH", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}"): tenant(
        "MANAGE_COMMERCES", 404, fill=_CU, body=_name
    ),
    ("DELETE", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}"): tenant(
        "MANAGE_COMMERCES", 404, fill=_CU
    ),
    ("POST", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}/roles"): tenant(
        "MANAGE_COMMERCES", 404, fill=_CU, body=lambda s, t: {"role": "FINANCE"}
    ),
    ("DELETE", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}/roles/{role:str}"): tenant(
        "MANAGE_COMMERCES", 404, fill={**_CU, "role": "role"}
    ),
    ("POST", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}/contacts"): tenant(
        "MANAGE_COMMERCES",
        404,
        fill=_CU,
        body=lambda s, t: {"contact_type": "EMAIL", "value": "taken@a.test", "source": "RETEN"},
    ),
    ("PATCH", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}/contacts/{contact_id:uuid}"): tenant(
        "MANAGE_COMMERCES", 404, fill=_CUC, body=lambda s, t: {"value": "taken@a.test"}
    ),
    ("DELETE", "/api/commerces/{commerce_id:uuid}/users/{user_id:uuid}/contacts/{contact_id:uuid}"): tenant(
        "MANAGE_COMMERCES", 404, fill=_CUC
    ),
    # operators
    ("GET", "/api/operators"): tenant("MANAGE_OPERATORS", 200, query=lambda s: {"search": "Op RB1"}),
    ("POST", "/api/operators"): tenant("MANAGE_OPERATORS", 201, body=_operator),
    ("POST", "/api/operators/sync"): tenant(
        "SYNC_OPERATORS", 201, body=lambda s, t: {"items": [_operator(s, t)]}
    ),
    ("GET", "/api/operators/{operator_id:uuid}"): tenant(
        "MANAGE_OPERATORS", 404, fill={"operator_id": "operator"}
    ),
    ("PATCH", "/api/operators/{operator_id:uuid}"): tenant(
        "MANAGE_OPERATORS", 404, fill={"operator_id": "operator"}, body=_name
    ),
    ("DELETE", "/api/operators/{operator_id:uuid}"): tenant(
        "MANAGE_OPERATORS", 404, fill={"operator_id": "operator"}
    ),
    # routes
    ("GET", "/api/routes"): tenant("MANAGE_ROUTES", 200, query=lambda s: {"search": "RB1"}),
    ("POST", "/api/routes"): tenant(
        "MANAGE_ROUTES", 201, body=lambda s, t: {"name": "Route RB1", "code": f"RB1{t}"}
    ),
    ("GET", "/api/routes/{route_id:uuid}"): tenant("MANAGE_ROUTES", 404, fill={"route_id": "route"}),
    ("PATCH", "/api/routes/{route_id:uuid}"): tenant(
        "MANAGE_ROUTES", 404, fill={"route_id": "route"}, body=_name
    ),
    ("DELETE", "/api/routes/{route_id:uuid}"): tenant("MANAGE_ROUTES", 404, fill={"route_id": "route"}),
    ("GET", "/api/routes/{route_id:uuid}/operators"): tenant(
        "MANAGE_ROUTES", 404, fill={"route_id": "route"}
    ),
    ("POST", "/api/routes/{route_id:uuid}/operators"): tenant(
        "MANAGE_ROUTES", 404, fill={"route_id": "route"}, body=lambda s, t: {"operatorId": s["operator"]}
    ),
    ("DELETE", "/api/routes/{route_id:uuid}/operators/{operator_id:uuid}"): tenant(
        "MANAGE_ROUTES", 404, fill={"route_id": "route", "operator_id": "operator"}
    ),
    # activities (B's ids in the body of creates: 404)
    ("GET", "/api/activities"): tenant(
        "VIEW_ACTIVITIES",
        200,
        query=lambda s: {"commerce_id": s["commerce"]},
        why="filtered by B's commerce: an empty page",
    ),
    ("POST", "/api/activities"): tenant(
        "CREATE_ACTIVITY", 404, body=_activity, why="B's commerce in the body"
    ),
    ("POST", "/api/activities/tasks"): tenant(
        "CREATE_ACTIVITY", 404, body=_task, why="B's commerce, route and operator in the body"
    ),
    ("POST", "/api/activities/tasks/{activity_id:uuid}/dispatch"): tenant("DISPATCH_ACTIVITY", 404, fill=_A),
    ("GET", "/api/activities/{activity_id:uuid}"): tenant("VIEW_ACTIVITIES", 404, fill=_A),
    ("PATCH", "/api/activities/{activity_id:uuid}/cancel"): tenant(
        "CANCEL_ACTIVITY", 404, fill=_A, body=lambda s, t: {"reason": "taken over"}
    ),
    ("PATCH", "/api/activities/{activity_id:uuid}/retry-resolution"): tenant(
        "CREATE_ACTIVITY", 404, fill={"activity_id": "message"}
    ),
    ("GET", "/api/activities/{activity_id:uuid}/status-events"): tenant("VIEW_ACTIVITIES", 404, fill=_A),
    ("GET", "/api/activities/{activity_id:uuid}/target-users"): tenant(
        "VIEW_ACTIVITIES", 404, fill={"activity_id": "message"}
    ),
    ("PATCH", "/api/activities/{activity_id:uuid}/target-users/{target_user_id:uuid}/resolve"): tenant(
        "CREATE_ACTIVITY",
        404,
        fill={"activity_id": "message", "target_user_id": "target_user"},
        body=lambda s, t: {"commerce_user_id": s["person"]},
    ),
    ("GET", "/api/activities/{activity_id:uuid}/attributes"): tenant("VIEW_ACTIVITIES", 404, fill=_A),
    ("POST", "/api/activity-results/tasks"): tenant(
        "CREATE_ACTIVITY", 404, body=_result, why="B's task in the body"
    ),
    # activity configuration
    ("GET", "/api/activity-config/attribute-keys"): tenant(
        "VIEW_ACTIVITIES", 200, why="the global catalogue"
    ),
    ("GET", "/api/activity-config/attribute-policies"): tenant("VIEW_ACTIVITIES", 200),
    ("POST", "/api/activity-config/attribute-policies"): tenant(
        "MANAGE_ACTIVITY_CONFIG",
        200,
        body=lambda s, t: {
            "attribute_key_id": s["attribute_key"],
            "resolution_strategy": "UPFRONT",
            "resolver_type": "INTERNAL_SERVICE",
        },
        why="an upsert of A's policy for the key B also has one for (200)",
    ),
    ("POST", "/api/activity-config/attribute-policies/{policy_id:uuid}/hook-secret"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"policy_id": "policy"}
    ),
    ("DELETE", "/api/activity-config/attribute-policies/{policy_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"policy_id": "policy"}
    ),
    ("GET", "/api/activity-config/target-resolution"): tenant("VIEW_ACTIVITIES", 200),
    ("POST", "/api/activity-config/target-resolution"): tenant(
        "MANAGE_ACTIVITY_CONFIG",
        201,
        body=lambda s, t: {"resolution_strategy": "ON_CREATION", "priority": PRIORITY.get(t, 2)},
    ),
    ("PATCH", "/api/activity-config/target-resolution/{config_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG",
        404,
        fill={"config_id": "target_config"},
        body=lambda s, t: {"fallback_to_owner": False},
    ),
    ("DELETE", "/api/activity-config/target-resolution/{config_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"config_id": "target_config"}
    ),
    ("GET", "/api/activity-config/task-result-types"): tenant("VIEW_ACTIVITIES", 200),
    ("POST", "/api/activity-config/task-result-types"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 201, body=lambda s, t: {"code": f"B_ONLY{t}", "label": "Taken"}
    ),
    ("PATCH", "/api/activity-config/task-result-types/{type_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"type_id": "result_type"}, body=lambda s, t: {"label": "Taken"}
    ),
    ("DELETE", "/api/activity-config/task-result-types/{type_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"type_id": "result_type"}
    ),
    # integration (API key only; the key's tenant is A)
    ("GET", "/api/integration/activities/tasks"): row(
        "api_key", "VIEW_ACTIVITIES", key=200, query=lambda s: {"external_commerce_id": "store-b1"}
    ),
    ("GET", "/api/integration/task-result-type-configs"): row("api_key", "VIEW_ACTIVITIES", key=200),
    ("POST", "/api/integration/activity-results/tasks"): row(
        "api_key",
        "SUBMIT_ACTIVITY_RESULT",
        key=404,
        body=lambda s, t: _result(s, t, "EFFECTIVE"),
        why="B's task in the body (the integration vocabulary of statuses)",
    ),
    # dispatch providers: global, administered by SUPER_ADMIN only
    ("GET", "/api/dispatch-providers"): row("user", "VIEW_ACTIVITIES", 200, why="global catalogue"),
    ("POST", "/api/dispatch-providers"): row(
        "user",
        "MANAGE_DISPATCH_PROVIDERS",
        403,
        body=lambda s, t: {"code": "MATRIX", "name": "Matrix", "protocolType": "MOCK"},
        why="SUPER_ADMIN only",
    ),
    ("GET", "/api/dispatch-providers/{provider_id:uuid}/channel-definitions"): row(
        "user", "VIEW_ACTIVITIES", 200, fill={"provider_id": "provider"}, why="global catalogue"
    ),
    ("PATCH", "/api/dispatch-providers/{provider_id:uuid}"): row(
        "user",
        "MANAGE_DISPATCH_PROVIDERS",
        403,
        fill={"provider_id": "provider"},
        body=lambda s, t: {"isActive": False},
        why="SUPER_ADMIN only",
    ),
    ("PUT", "/api/dispatch-providers/{provider_id:uuid}/channel-definitions/{channel:str}"): row(
        "user",
        "MANAGE_DISPATCH_PROVIDERS",
        403,
        fill={"provider_id": "provider", "channel": "channel"},
        body=lambda s, t: {"credentialSchema": [], "settingsSchema": []},
        why="SUPER_ADMIN only",
    ),
    # dispatch configs (the tenant's)
    ("GET", "/api/dispatch-configs"): tenant("VIEW_ACTIVITIES", 200),
    ("POST", "/api/dispatch-configs"): tenant(
        "MANAGE_ACTIVITY_CONFIG",
        201,
        body=lambda s, t: {"dispatch_provider_id": s["provider"], "channel": CHANNEL.get(t, "EMAIL")},
    ),
    ("PATCH", "/api/dispatch-configs/{config_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG",
        404,
        fill={"config_id": "dispatch_config"},
        body=lambda s, t: {"is_active": False},
    ),
    ("DELETE", "/api/dispatch-configs/{config_id:uuid}"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"config_id": "dispatch_config"}
    ),
    ("POST", "/api/dispatch-configs/{config_id:uuid}/signing-secret"): tenant(
        "MANAGE_ACTIVITY_CONFIG", 404, fill={"config_id": "dispatch_config"}
    ),
}

CALLERS = ("anon", "jwt_a", "jwt_a_hdr_b", "key_a", "key_a_lacking", "key_a_hdr_b", "key_revoked")
TAGS = {"jwt_a": "", "key_a": "-k"}
# The methods a path is called with when it does not declare them (T7), and the path parameters of the
# operational routes (the matrix fills its own with B's objects).
SWAPS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE")
OPERATIONAL_FILLS = {"path": "openapi.json"}


def expected(r: Row, caller: str) -> int | None:
    """The status ``caller`` must get from the route (None: not called)."""
    if r.mode == "public":
        return r.anon if caller == "anon" else None
    if caller == "anon":
        return r.anon
    if caller == "key_revoked":
        return 401
    if caller in ("key_a_lacking", "key_a_hdr_b"):
        return 403
    if caller == "key_a":
        if r.mode in ("user", "tenant_jwt"):
            return 403  # a person's route: the key is authenticated, then refused
        return r.key if r.key is not None else r.own
    # jwt_a, jwt_a_hdr_b
    if r.mode == "api_key":
        return 401  # a Bearer token on an API-key route
    if caller == "jwt_a_hdr_b" and r.mode in ("tenant", "tenant_jwt"):
        return 403  # A's ADMIN is not a member of B
    return r.own  # user routes take no x-tenant-id


# ---- the route table --------------------------------------------------------------------------------
def app_routes(app: Litestar) -> dict[tuple[str, str], RoutePolicy | None]:
    """(method, path) -> the handler's policy (``RoutePolicy.of``: a route under /api that declares none is
    a plain tenant route), for every route of the app but HEAD/OPTIONS; None for an ASGI route."""
    out: dict[tuple[str, str], RoutePolicy | None] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            out[("ASGI", route.path)] = None
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method not in ("HEAD", "OPTIONS"):
                out[(method, route.path)] = RoutePolicy.of(handler, route.path)
    return out


def coverage_problems(app: Litestar) -> list[str]:
    problems: list[str] = []
    routes = app_routes(app)
    for (method, path), policy in sorted(routes.items()):
        if not path.startswith("/api"):
            if not path.startswith(OPERATIONAL):
                problems.append(f"{method} {path}: a route outside /api the matrix does not know")
            continue
        entry = MATRIX.get((method, path))
        if entry is None:
            problems.append(f"{method} {path}: missing from MATRIX (add its access and expected answers)")
            continue
        declared = (policy.auth, policy.permission) if policy is not None else ("ASGI", None)
        if declared != (entry.mode, entry.permission):
            problems.append(
                f"{method} {path}: declares {declared}, MATRIX says {(entry.mode, entry.permission)}"
            )
        params = set(re.findall(r"\{(\w+):\w+\}", path))
        if params != {p for p, _ in entry.fill}:
            problems.append(f"{method} {path}: path parameters {sorted(params)}, MATRIX fills {entry.fill}")
    for method, path in MATRIX:
        if (method, path) not in routes:
            problems.append(f"{method} {path}: in MATRIX but not a route of the app any more")
    return problems


async def test_matrix_names_every_route(app: Litestar) -> None:
    problems = coverage_problems(app)
    assert not problems, "route table and MATRIX differ:\n  " + "\n  ".join(problems)


# ---- tenant B's objects ---------------------------------------------------------------------------------
async def seed_b(client: Client, world: World) -> Seed:
    """An object of every kind in tenant B, made through the API by B's ADMIN."""
    b = world.admin_b
    s: Seed = {"tenant": str(world.tenant_b), "role": "OWNER", "channel": "WHATSAPP"}
    s["user"] = str((await add_user(client, b, "fde@b.test", ["FDE"])).user_id)
    people = [
        {"external_id": "p0", "name": "P0 Person", "roles": ["OWNER"],
         "contacts": [{"contact_type": "EMAIL", "value": "p0@b.test"}]},
        {"external_id": "p1", "name": "P1 Person", "roles": ["COMMERCE_REP"]},
    ]  # fmt: skip
    store = await commerce(client, b, "store-b1", users=people)
    p0 = next(u for u in store["users"] if u["externalId"] == "p0")
    s.update(commerce=store["id"], address=store["addresses"][0]["id"], person=p0["id"])
    s["contact"] = p0["contacts"][0]["id"]
    route = await ok(client, b, "POST", "/api/routes", 201, json={"name": "Route RB1", "code": "RB1"})
    operator = await ok(client, b, "POST", "/api/operators", 201, json=_operator(s, ""))
    link = {"operatorId": operator["id"]}
    await ok(client, b, "POST", f"/api/routes/{route['id']}/operators", 201, json=link)
    s.update(route=route["id"], operator=operator["id"])
    s["target_config"] = (await first_config(client, b))["id"]
    message = await create_activity(
        client, b, store["id"], idempotency_key="b-message", attribute_keys=["commerce_info"]
    )
    s["message"] = message["id"]
    targets = await ok(client, b, "GET", f"/api/activities/{message['id']}/target-users")
    s["target_user"] = targets[0]["id"]
    task = await create_task(client, b, store["id"], route["id"], operator["id"], idempotency_key="b-task")
    s["task"] = task["id"]
    done = await create_task(client, b, store["id"], route["id"], operator["id"], idempotency_key="b-done")
    s["result"] = (await ok(client, b, "POST", "/api/activity-results/tasks", 201, json=result_body(done)))[
        "id"
    ]
    types = "/api/activity-config/task-result-types"
    s["result_type"] = (await ok(client, b, "POST", types, 201, json={"code": "B_ONLY", "label": "B"}))["id"]
    providers = await ok(client, b, "GET", "/api/dispatch-providers")
    s["provider"] = next(p["id"] for p in providers if p["code"] == "MOCK")
    config = {"dispatch_provider_id": s["provider"], "channel": "WHATSAPP"}
    s["dispatch_config"] = (await ok(client, b, "POST", "/api/dispatch-configs", 201, json=config))["id"]
    keys = await ok(client, b, "GET", "/api/activity-config/attribute-keys")
    s["attribute_key"] = next(k["id"] for k in keys if k["key"] == "promotions")
    # After the activities, so that no hook is ever asked.
    policy = {"attribute_key_id": s["attribute_key"], "resolution_strategy": "ON_DISPATCH",
              "resolver_type": "CLIENT_HOOK", "hook_url": "http://127.0.0.1:9/hook"}  # fmt: skip
    s["policy"] = (await ok(client, b, "POST", "/api/activity-config/attribute-policies", json=policy))["id"]
    key = {"name": "b-key", "permissions": ["VIEW_ACTIVITIES"]}
    s["api_key"] = (await ok(client, b, "POST", "/api/api-keys", 201, json=key))["id"]
    return s


async def snapshot(pool: asyncpg.Pool, tenant_id: uuid.UUID) -> dict[str, list[str]]:
    """Every row of the tenant (tenant tables, in its context as the owner), its tenant row, and the
    global rows of its members (users, refresh tokens), each table's rows as sorted reprs."""
    out: dict[str, list[str]] = {}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant_id}'")
        tables = sorted(r["table_name"] for r in await conn.fetch(TENANT_TABLES))
        for table in tables:
            rows = await conn.fetch(f"select * from app.{table} where tenant_id = $1", tenant_id)
            out[table] = sorted(repr(dict(r)) for r in rows)
        members = [r["user_id"] for r in await conn.fetch("select user_id from app.tenant_memberships")]
        for table, column in (("tenants", "id"), ("users", "id"), ("refresh_tokens", "user_id")):
            ids = [tenant_id] if table == "tenants" else members
            rows = await conn.fetch(f"select * from app.{table} where {column} = any($1::uuid[])", ids)
            out[table] = sorted(repr(dict(r)) for r in rows)
    return out


UUID_RE = re.compile(r"UUID\('([0-9a-f-]{36})'\)")


async def foreign_ids(
    owner: asyncpg.Pool, b_rows: dict[str, list[str]], a_rows: dict[str, list[str]]
) -> set[str]:
    """The uuids in B's rows that are B's alone: not A's too, nor of the global catalogues."""
    found = {m for rows in b_rows.values() for r in rows for m in UUID_RE.findall(r)}
    mine = {m for rows in a_rows.values() for r in rows for m in UUID_RE.findall(r)}
    async with owner.acquire() as conn:
        shared = {
            str(r["id"])
            for table in ("attribute_keys", "dispatch_providers", "dispatch_channel_definitions")
            for r in await conn.fetch(f"select id from app.{table}")
        }
    return found - mine - shared


def url_of(path: str, r: Row, s: Seed) -> str:
    """``path`` with each parameter the Seed entry ``r`` fills it with (a parameter ``r`` does not fill: the
    entry of its own name)."""
    fill = dict(r.fill)
    return re.sub(r"\{(\w+):\w+\}", lambda m: s[fill.get(m[1], m[1])], path)


# ---- the callers --------------------------------------------------------------------------------------
Headers = Callable[[Row, int], dict[str, str]]


async def callers(client: Client, world: World) -> dict[str, Headers]:
    """Each caller's headers for the n-th route of a sweep (every one of CALLERS, and B's ADMIN, ``jwt_b``),
    after making A's API keys: every ADMIN permission (three, so no key's rate budget runs out), every one
    but the route's own (one per permission), and a revoked one."""
    a, tenant_b = world.admin_a, world.tenant_b

    async def new_key(permissions: list[str]) -> dict[str, Any]:
        body = {"name": "matrix", "permissions": permissions}
        created: dict[str, Any] = await ok(client, a, "POST", "/api/api-keys", 201, json=body)
        return created

    full = [(await new_key(ADMIN_PERMISSIONS))["plaintextKey"] for _ in range(3)]
    lacking: dict[str | None, str] = {None: full[0]}
    for permission in sorted({r.permission for r in MATRIX.values() if r.permission}):
        rest = [p for p in ADMIN_PERMISSIONS if p != permission]
        lacking[permission] = (await new_key(rest))["plaintextKey"]
    revoked = await new_key(["VIEW_ACTIVITIES"])
    await ok(client, a, "POST", f"/api/api-keys/{revoked['id']}/revoke")
    return {
        "anon": lambda r, n: {},
        "jwt_a": lambda r, n: a.headers(),
        "jwt_a_hdr_b": lambda r, n: a.headers(tenant_b),
        "key_a": lambda r, n: {"x-api-key": full[n % len(full)]},
        "key_a_lacking": lambda r, n: {"x-api-key": lacking[r.permission]},
        "key_a_hdr_b": lambda r, n: {"x-api-key": full[n % len(full)], "x-tenant-id": str(tenant_b)},
        "key_revoked": lambda r, n: {"x-api-key": revoked["plaintextKey"]},
        "jwt_b": lambda r, n: world.admin_b.headers(),
    }


# ---- the sweep --------------------------------------------------------------------------------------------
async def test_cross_tenant_authorization_matrix(
    client: Client, world: World, owner_pool: asyncpg.Pool
) -> None:
    assert not coverage_problems(client.app), "see test_matrix_names_every_route"
    tenant_b = world.tenant_b
    s = await seed_b(client, world)

    headers_of = await callers(client, world)

    # Controls: B's ADMIN reads each of its objects the sweep names (the ids are live, the 404s are the
    # tenant decision).
    for (method, path), r in MATRIX.items():
        if method == "GET" and r.mode != "api_key":
            query = r.query(s) if r.query else None
            control = await client.get(url_of(path, r, s), headers=world.admin_b.headers(), params=query)
            assert control.status_code == 200, (path, control.text)
    listed = await client.get("/api/commerces", headers=world.admin_b.headers())
    assert s["commerce"] in listed.text  # the scan below would see a leak

    before_b = await snapshot(owner_pool, tenant_b)
    b_ids = await foreign_ids(owner_pool, before_b, await snapshot(owner_pool, world.tenant_a))
    for (method, path), r in MATRIX.items():
        for param, name in r.fill:
            if name not in GLOBAL_FILLS:
                assert s[name] in b_ids, f"{method} {path}: {param} is not one of B's objects"
    b_strings = {"tenant-b", "admin@b.test", "fde@b.test"}
    client.cookies.clear()  # anonymous means no refresh cookie from the logins above

    problems: list[str] = []
    calls = 0
    started = time.monotonic()
    for n, ((method, path), r) in enumerate(MATRIX.items()):
        url = url_of(path, r, s)
        for caller in CALLERS:
            want = expected(r, caller)
            if want is None:
                continue
            tag = TAGS.get(caller, f"-{caller.split('_')[-1]}")
            kwargs: dict[str, Any] = {"headers": headers_of[caller](r, n)}
            if r.body is not None:
                kwargs["json"] = r.body(s, tag)
            if r.query is not None:
                kwargs["params"] = r.query(s)
            response = await client.request(method, url, **kwargs)
            calls += 1
            problems += check(f"{method} {path} as {caller}", response, want, b_ids, b_strings)
    took = time.monotonic() - started
    after_b = await snapshot(owner_pool, tenant_b)

    changed = [t for t in sorted(before_b.keys() | after_b.keys()) if before_b.get(t) != after_b.get(t)]
    problems += [f"tenant B's rows changed in app.{t}" for t in changed]
    print(f"\nT1/T7: {len(MATRIX)} routes, {calls} calls in {took:.1f} s; {len(b_ids)} ids of B watched")
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


async def test_undeclared_methods_answer_405(client: Client, world: World, owner_pool: asyncpg.Pool) -> None:
    """T7: each path called with every method of SWAPS it does not declare, by every caller: 405 (see the
    module's docstring), and no row of either tenant changes."""
    assert not coverage_problems(client.app), "see test_matrix_names_every_route"
    s = await seed_b(client, world)
    headers_of = await callers(client, world)
    declared: dict[str, set[str]] = {}
    for method, path in app_routes(client.app):
        if method != "ASGI":
            declared.setdefault(path, set()).add(method)
    # Each path once, filled with B's objects; its row lends the sweep a body and a permission.
    rows = {path: r for (_, path), r in MATRIX.items()}
    plain = Row("public", None)
    before = {t: await snapshot(owner_pool, t) for t in (world.tenant_a, world.tenant_b)}
    b_ids = await foreign_ids(owner_pool, before[world.tenant_b], before[world.tenant_a])
    b_strings = {"tenant-b", "admin@b.test", "fde@b.test"}
    client.cookies.clear()  # anonymous means no refresh cookie from the logins above

    problems: list[str] = []
    calls = 0
    started = time.monotonic()
    for n, (path, methods) in enumerate(sorted(declared.items())):
        r = rows.get(path, plain)
        url = url_of(path, r, s) if path in rows else url_of(path, r, OPERATIONAL_FILLS)
        allow = methods | {"OPTIONS"}
        body = next((w.body for (m, p), w in MATRIX.items() if p == path and w.body is not None), None)
        for method in sorted(set(SWAPS) - methods):
            for caller in (*CALLERS, "jwt_b"):
                kwargs: dict[str, Any] = {"headers": headers_of[caller](r, n)}
                if method in ("POST", "PUT", "PATCH"):
                    kwargs["json"] = body(s, "-swap") if body is not None else {}
                response = await client.request(method, url, **kwargs)
                calls += 1
                label = f"{method} {path} as {caller}"
                if method == "HEAD":  # no body to read
                    if response.status_code != 405:
                        problems.append(f"{label}: expected 405, got {response.status_code}")
                else:
                    problems += check(label, response, 405, b_ids, b_strings)
                named = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
                if response.status_code == 405 and named != allow:
                    problems.append(f"{label}: Allow names {sorted(named)}, the path has {sorted(allow)}")
    took = time.monotonic() - started
    for tenant_id, rows_before in before.items():
        after = await snapshot(owner_pool, tenant_id)
        for table in sorted(rows_before.keys() | after.keys()):
            if rows_before.get(table) != after.get(table):
                problems.append(f"tenant {tenant_id}'s rows changed in app.{table}")
    print(f"\nT7: {len(declared)} paths, {calls} calls with an undeclared method in {took:.1f} s")
    assert calls > 0
    assert not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems[:40])


def check(label: str, response: Response, want: int, b_ids: set[str], b_strings: set[str]) -> list[str]:
    """What is wrong with one answer: its status (a 5xx never matches), its error body, or something of
    tenant B's in its body or headers."""
    out: list[str] = []
    text = response.text
    if response.status_code != want:
        out.append(f"{label}: expected {want}, got {response.status_code}: {text[:200]}")
    elif want >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict) or body.get("statusCode") != want or not body.get("message"):
            out.append(f"{label}: not the documented error body: {text[:200]}")
    seen = text.lower() + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
    leaked = sorted(x for x in b_ids | b_strings if x in seen)
    if leaked:
        out.append(f"{label}: the answer carries tenant B's {leaked}")
    return out
