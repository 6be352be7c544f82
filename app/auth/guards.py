"""Permission guards and the one helper that declares how a route may be called.

    @get("/api/user/tenant-users", **access("VIEW_USERS", auth="tenant_jwt", doc="List users"))

``access`` sets the guard, the route's ``RoutePolicy`` (app/policy.py: read by the auth middleware, the
transaction and the request log), the
OpenAPI security requirement, whose scope lists the permission, so /schema shows it for every route, and
the error answers the route can give (``declared_errors``), each with the one documented error body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from litestar.connection import ASGIConnection
from litestar.enums import ParamType
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIType, Schema

from app.auth.permissions import PERMISSIONS
from app.auth.principal import Principal
from app.errors import ErrorBody, Forbidden
from app.openapi import WireOperation
from app.policy import AuthMode, RoutePolicy

__all__ = ("AuthMode", "access", "declared_errors", "requires")

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
        principal: Principal | None = connection.scope.get("user")
        if principal is None or permission not in principal.permissions:
            raise Forbidden("Insufficient permissions")

    guard.__name__ = f"requires_{permission.lower()}"
    return guard


# Why each error status can happen (CONTRACT.md §1), as /schema says it.
ERROR_TEXT: dict[int, str] = {
    400: "Validation error: a malformed body, parameter or `x-tenant-id`, or a rule the input breaks",
    401: "No credentials, or bad, expired or revoked ones",
    403: "Missing permission, not a member of the tenant, or the wrong kind of credential for the route",
    404: "Not found (another tenant's resource is not found either)",
    409: "Conflict: a unique value already exists, or the resource's state forbids it",
    413: "Body over the size limit (1 MiB)",
    415: "Content-Type is not application/json",
    429: "Rate limited; retry after `Retry-After` seconds",
    502: "The provider failed; `errorCode` says how",
    503: "Database unavailable; retry after `Retry-After` seconds",
}

# Answered only when the operation has inputs of that kind; see DeclaredOperation.
_INPUT_ERRORS = frozenset({400, 404, 413, 415})

_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    description="Seconds to wait before retrying",
    required=True,
)


def declared_errors(permission: str | None, auth: AuthMode, statuses: Iterable[int] = ()) -> frozenset[int]:
    """The error statuses a route can answer, from how it is called (the one place that says so):

    every route reaches the database, for its credentials or its transaction (503); a credentialed one
    can be refused them (401) or refused as the wrong principal (403: a missing permission, a tenant it
    is not a member of, an API key on a route for people, or a key naming another tenant), and a request
    that carries an API key is rate limited per key before anything else (429), on whatever route; a
    tenant route needs ``x-tenant-id`` with a JWT (400). ``statuses``: what only the route knows (409
    conflicts, a 404 on an id in the body, ...)."""
    errors = {503, *statuses}
    if auth != "public":
        errors |= {401, 403, 429}
    if auth in ("tenant", "tenant_jwt"):
        errors.add(400)
    return frozenset(errors)


@dataclass
class DeclaredOperation(WireOperation):
    """An operation whose input-dependent errors follow its inputs, known only once Litestar has built
    them: 400 with any parameter or body, 404 with a path parameter, 413 and 415 with a body. ``always``:
    the statuses the route declared for other reasons (``declared_errors``)."""

    always: ClassVar[frozenset[int]] = frozenset()

    def __post_init__(self) -> None:
        super().__post_init__()
        parameters = [p for p in self.parameters or () if hasattr(p, "param_in")]
        keep = set(self.always)
        if parameters or self.request_body is not None:
            keep.add(400)
        if any(p.param_in == ParamType.PATH for p in parameters):
            keep.add(404)
        if self.request_body is not None:
            keep |= {413, 415}
        responses = self.responses or {}
        for code in [c for c in responses if c.isdigit() and int(c) >= 400 and int(c) not in keep]:
            del responses[code]
        for code in ("429", "503"):
            if code in responses:
                responses[code].headers = {"Retry-After": _RETRY_AFTER}  # type: ignore[union-attr]


def access(
    permission: str | None,
    *,
    auth: AuthMode = "tenant",
    doc: str = "",
    db_role: Literal["identity"] | None = None,
    generic_plans: bool = False,
    log_requests: bool = True,
    statuses: Iterable[int] = (),
) -> dict[str, Any]:
    """Handler keyword arguments: guards, opt, security, description and error responses for one route.

    ``generic_plans``: the request's statements run on their generic plans (planned once per
    connection; for statements written so that one plan serves every parameter value, like the
    integration pull). ``log_requests=False``: no access line for the route (the integration pull,
    where a Python log call per request costs throughput). ``statuses``: error statuses only the route
    knows it can answer (see ``declared_errors``)."""
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
    policy = RoutePolicy(auth, permission, db_role, generic_plans, log_requests)
    errors = declared_errors(permission, auth, statuses)
    return {
        "guards": [requires(permission)] if permission else [],
        "opt": policy.opt(),
        "security": security,
        "description": text,
        # Every candidate is declared with the one error body; the operation drops the input-dependent
        # ones its inputs cannot cause.
        "responses": {
            status: ResponseSpec(
                data_container=ErrorBody, description=ERROR_TEXT[status], generate_examples=False
            )
            for status in sorted(errors | _INPUT_ERRORS)
        },
        "operation_class": type("Operation", (DeclaredOperation,), {"always": errors}),
    }
