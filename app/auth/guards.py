"""Permission guards and the one helper that declares how a route may be called.

    @get("/api/user/tenant-users", **access("VIEW_USERS", auth="tenant_jwt", doc="List users"))

``access`` sets the guard, the route's ``opt`` (read by the auth middleware and the db dependency) and
the OpenAPI security requirement, whose scope lists the permission, so /schema shows it for every route.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.auth.permissions import PERMISSIONS
from app.auth.principal import Principal
from app.errors import Forbidden

__all__ = ("AuthMode", "access", "requires")

AuthMode = Literal["public", "user", "tenant", "tenant_jwt", "api_key"]

BEARER = "BearerToken"
API_KEY = "ApiKey"

_AUTH_TEXT: dict[str, str] = {
    "public": "Public: no credentials.",
    "user": "JWT (`Authorization: Bearer`); no `x-tenant-id`.",
    "tenant": "JWT with `x-tenant-id` (membership checked on every request), or an API key "
    "(`x-api-key`, which selects its own tenant).",
    "tenant_jwt": "JWT with `x-tenant-id` only (API keys are refused).",
    "api_key": "API key only (`x-api-key`); a Bearer token is refused with 401.",
}


def requires(permission: str) -> Any:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission}")

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal: Principal | None = connection.scope.get("user")  # type: ignore[assignment]
        if principal is None or permission not in principal.permissions:
            raise Forbidden("Insufficient permissions")

    guard.__name__ = f"requires_{permission.lower()}"
    return guard


def access(
    permission: str | None,
    *,
    auth: AuthMode = "tenant",
    doc: str = "",
    db_role: Literal["identity"] | None = None,
    generic_plans: bool = False,
    log_requests: bool = True,
) -> dict[str, Any]:
    """Handler keyword arguments: guards, opt, security and description for one route.

    ``generic_plans``: the request's statements run on their generic plans (planned once per
    connection; for statements written so that one plan serves every parameter value, like the
    integration pull). ``log_requests=False``: no access line for the route (the integration pull,
    where a Python log call per request costs throughput)."""
    scopes = [permission] if permission else []
    security: list[dict[str, list[str]]]
    if auth == "public":
        security = []
    elif auth == "api_key":
        security = [{API_KEY: scopes}]
    elif auth == "tenant":
        security = [{BEARER: scopes}, {API_KEY: scopes}]
    else:
        security = [{BEARER: scopes}]
    text = f"{doc}\n\n" if doc else ""
    text += f"**Permission:** `{permission}`. " if permission else "**Permission:** none. "
    text += f"**Auth:** {_AUTH_TEXT[auth]}"
    opt: dict[str, Any] = {"auth": auth, "permission": permission}
    if db_role:
        opt["db_role"] = db_role
    if generic_plans:
        opt["generic_plans"] = True
    if not log_requests:
        opt["log_requests"] = False
    return {
        "guards": [requires(permission)] if permission else [],
        "opt": opt,
        "security": security,
        "description": text,
    }
