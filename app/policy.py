"""How a route may be called, as one typed value: ``RoutePolicy``, set by ``app.auth.guards.access`` (or
``RoutePolicy.opt`` on the few routes outside it) and read through ``RoutePolicy.of`` by the auth
middleware (credentials), the transaction (database role, plan mode) and the request log."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from litestar.handlers.base import BaseRouteHandler

__all__ = ("AuthMode", "RoutePolicy")

AuthMode = Literal["public", "user", "tenant", "tenant_jwt", "api_key"]

_KEY = "reten.policy"


@dataclasses.dataclass(frozen=True, slots=True)
class RoutePolicy:
    """``auth``: the credentials the route takes (``_AUTH_TEXT`` in app/auth/guards.py says each);
    ``permission``: the one it needs (None: none); ``db_role="identity"``: its transaction runs as
    the identity role (users, tenants, logins); ``generic_plans``: its statements run on their generic
    plans; ``log_requests=False``: no access line for it."""

    auth: AuthMode = "tenant"
    permission: str | None = None
    db_role: Literal["identity"] | None = None
    generic_plans: bool = False
    log_requests: bool = True

    def opt(self) -> dict[str, Any]:
        """The route handler's ``opt`` that carries this policy."""
        return {_KEY: self}

    @staticmethod
    def declared_by(handler: BaseRouteHandler) -> RoutePolicy | None:
        declared = handler.opt.get(_KEY)
        return declared if isinstance(declared, RoutePolicy) else None

    @classmethod
    def of(cls, handler: BaseRouteHandler, path: str) -> RoutePolicy:
        """The policy ``handler`` declares; a route that declares none (Litestar's own: /schema, the
        automatic OPTIONS) is public outside ``/api`` and a plain tenant route under it."""
        declared = cls.declared_by(handler)
        if declared is not None:
            return declared
        return _TENANT if path.startswith("/api") else _PUBLIC


_TENANT = RoutePolicy()
_PUBLIC = RoutePolicy(auth="public")
